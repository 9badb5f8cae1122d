import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A failure of the replay, with a message that says what to fix.
struct ReplayError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// The HTTP side of the replay: it calls the services as the web tier, the carrier and the call center would.
struct ReplayClient: Sendable {
    struct Response: Sendable {
        var status: Int
        var body: Data

        func json() -> [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
    }

    let session: URLSession
    /// How long a request is retried on 503 and on connection errors; it is tried at least three times.
    let retryFor: Duration

    init(retryFor: Duration = .zero) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 32
        configuration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: configuration)
        self.retryFor = retryFor
    }

    /// Sends a request and returns the status and body.
    ///
    /// A 503 or a connection error is retried at least twice, and until `retryFor` has passed. The wait before
    /// a retry is the response's `Retry-After` (at most 5 seconds), else 200 ms.
    func send(_ method: String, _ url: String, key: String? = nil, json: Any? = nil, form: [(String, String)]? = nil,
              headers: [String: String] = [:]) async throws -> Response {
        guard let target = URL(string: url) else { throw ReplayError("invalid URL \(url)") }

        var request = URLRequest(url: target)
        request.httpMethod = method
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let form {
            request.httpBody = Data(ReplayClient.formEncode(form).utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }

        let deadline = ContinuousClock.now + retryFor
        var attempt = 0
        while true {
            attempt += 1
            let mayRetry = attempt < 3 || ContinuousClock.now < deadline
            do {
                let (data, response) = try await session.data(for: request)
                let http = response as? HTTPURLResponse
                let status = http?.statusCode ?? 0
                if status == 503, mayRetry {
                    let hint = http?.value(forHTTPHeaderField: "Retry-After").flatMap(Int.init) ?? 0
                    try await Task.sleep(for: hint > 0 ? .seconds(min(hint, 5)) : .milliseconds(200))
                    continue
                }
                return Response(status: status, body: data)
            } catch let error as CancellationError {
                throw error
            } catch {
                guard mayRetry else { throw ReplayError("\(method) \(url) failed: \(error)") }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    /// `application/x-www-form-urlencoded` with the characters Twilio leaves unescaped.
    static func formEncode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { name, value in
            let encodedName = name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
            let encodedValue = value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
            return "\(encodedName)=\(encodedValue)"
        }.joined(separator: "&")
    }
}
