import HTTPKit
import SecurityKit

extension AttributionService {
    /// Serves `GET /dashboard`, a self-contained HTML page that reads `GET /v1/reports/campaigns` from the browser
    /// with the read key the user enters.
    ///
    /// The page needs no key itself, because it contains no data. Its inline script and style run only with the
    /// random nonce of this response, and the Content-Security-Policy allows requests to this origin only, so
    /// injected markup can neither run script nor send the key elsewhere.
    func dashboard(_ request: HTTPRequest) async throws -> HTTPResponse {
        let nonce = Base64.encode(RandomBytes.make(count: 16))
        var response = HTTPResponse.text(DashboardPage.html(nonce: nonce), contentType: "text/html; charset=utf-8")
        response.headers += [
            ("Content-Security-Policy", DashboardPage.contentSecurityPolicy(nonce: nonce)),
            ("Cache-Control", "no-store"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
        ]
        return response
    }
}
