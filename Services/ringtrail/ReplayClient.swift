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

    init() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 32
        configuration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: configuration)
    }

    /// Sends a request and returns the status and body; retries twice on 503 and on connection errors.
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

        var attempt = 0
        while true {
            attempt += 1
            do {
                let (data, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if status == 503, attempt < 3 {
                    try await Task.sleep(for: .milliseconds(200))
                    continue
                }
                return Response(status: status, body: data)
            } catch {
                guard attempt < 3 else { throw ReplayError("\(method) \(url) failed: \(error)") }
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
