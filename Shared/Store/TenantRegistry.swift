import Foundation
import HTTPKit
import Model
import SecurityKit
import ServiceKit
import Synchronization

/// Who is calling: an advertiser or a call center, with the scopes of the key it presented.
public struct Principal: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case advertiser(String)
        case callCenter(String)
    }

    public let kind: Kind
    public let scopes: Set<Scope>

    /// The advertiser id for an advertiser key; nil for a call center.
    public var advertiserID: String? {
        if case .advertiser(let id) = kind { return id }
        return nil
    }
}

/// The loaded tenants file with an index of key hashes, replaced atomically on reload.
///
/// Reading is lock-protected and cheap; `reload()` runs on SIGHUP and when the file's modification time changes.
public final class TenantRegistry: Sendable {
    private struct Snapshot: Sendable {
        let file: TenantsFile
        let principals: [String: Principal]
        let modified: Date?
    }

    private let state: Mutex<Snapshot>
    /// The modification time of the file last tried, valid or not, so an invalid file is reported once.
    private let lastTried = Mutex<Date?>(nil)
    private let path: String
    private let logger: Logger

    /// Loads `path`.
    ///
    /// - Throws: `ValidationError` describing what is wrong with the file.
    public init(path: String, logger: Logger) throws(ValidationError) {
        self.path = path
        self.logger = logger
        self.state = Mutex(try TenantRegistry.load(path: path))
    }

    private static func load(path: String) throws(ValidationError) -> Snapshot {
        let file = try TenantsFile.load(path: path)
        var principals: [String: Principal] = [:]
        for advertiser in file.advertisers {
            for key in advertiser.keys {
                principals[key.hash] = Principal(kind: .advertiser(advertiser.id), scopes: Set(key.scopes))
            }
        }
        for center in file.callCenters {
            for key in center.keys {
                principals[key.hash] = Principal(kind: .callCenter(center.id), scopes: Set(key.scopes))
            }
        }
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        return Snapshot(file: file, principals: principals, modified: modified)
    }

    public var file: TenantsFile { state.withLock { $0.file } }

    public func advertiser(_ id: String) -> Advertiser? { state.withLock { $0.file.advertiser(id) } }

    /// The advertiser and pool that own a tracking number.
    public func pool(owning number: String) -> (advertiser: Advertiser, pool: Pool)? {
        state.withLock { snapshot in
            for advertiser in snapshot.file.advertisers {
                if let pool = advertiser.pool(owning: number) { return (advertiser, pool) }
            }
            return nil
        }
    }

    /// The principal whose key hashes to `sha256:` + SHA-256 of `key`.
    public func principal(forKey key: String) -> Principal? {
        let hash = keyHash(key)
        return state.withLock { $0.principals[hash] }
    }

    /// Hashes of keys seen lately, since every request presents one; emptied when it contains `keyHashLimit` entries, so
    /// a client sending random keys cannot make it grow.
    private let keyHashes = Mutex<[String: String]>([:])
    private static let keyHashLimit = 1024

    private func keyHash(_ key: String) -> String {
        if let hash = keyHashes.withLock({ $0[key] }) { return hash }
        let hash = "sha256:" + Digest.sha256Hex(key)
        keyHashes.withLock { hashes in
            if hashes.count >= TenantRegistry.keyHashLimit { hashes.removeAll(keepingCapacity: true) }
            hashes[key] = hash
        }
        return hash
    }

    /// Reloads the file; on an invalid file the previous configuration stays in force and the error is logged.
    ///
    /// Returns true when a new configuration was loaded.
    @discardableResult
    public func reload() -> Bool {
        do {
            let snapshot = try TenantRegistry.load(path: path)
            state.withLock { $0 = snapshot }
            logger.info("Tenants file reloaded", metadata: ["tenants": path,
                                                             "advertisers": "\(snapshot.file.advertisers.count)"])
            return true
        } catch {
            logger.error("Tenants file is invalid, keeping the previous configuration",
                         metadata: ["tenants": path, "error": error.reason])
            return false
        }
    }

    /// Reloads when the file's modification time changed since the last load.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        let known = lastTried.withLock { $0 } ?? state.withLock { $0.modified }
        guard let modified, modified != known else { return false }
        lastTried.withLock { $0 = modified }
        return reload()
    }

    /// Authenticates `request` by its `Authorization: Bearer` or `X-Api-Key` header and checks one of `scopes`.
    ///
    /// - Throws: `HTTPError` 401 for no key or an unknown key, 403 for a key without any of `scopes`.
    public func authorize(_ request: HTTPRequest, anyOf scopes: Set<Scope>) throws(HTTPError) -> Principal {
        // An empty X-Api-Key header, which some proxies add, counts as absent.
        var key = request.header("x-api-key").flatMap { $0.isEmpty ? nil : $0 }
        if key == nil, let authorization = request.header("authorization") {
            let parts = authorization.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.first?.lowercased() == "bearer" else {
                // The header is not echoed: without a scheme its first word may be the key itself.
                throw HTTPError(status: 401, code: "unauthorized",
                                message: "unsupported Authorization scheme; send the key as "
                                    + "\"Authorization: Bearer <key>\" or in X-Api-Key", headers: [])
            }
            if parts.count == 2 { key = String(parts[1].trimmingHeaderWhitespace()) }
        }
        guard let key, !key.isEmpty else {
            throw HTTPError(status: 401, code: "unauthorized",
                            message: "missing API key; send it as \"Authorization: Bearer <key>\" or in X-Api-Key",
                            headers: [])
        }
        guard let principal = principal(forKey: key) else {
            throw HTTPError(status: 401, code: "unauthorized", message: "unknown API key", headers: [])
        }
        guard !principal.scopes.isDisjoint(with: scopes) else {
            let names = scopes.map(\.rawValue).sorted().joined(separator: " or ")
            throw HTTPError(status: 403, code: "forbidden", message: "this key lacks the \(names) scope", headers: [])
        }
        return principal
    }

    /// The advertiser an advertiser key belongs to, or 403 for a call-center key.
    public func advertiser(of principal: Principal) throws(HTTPError) -> Advertiser {
        guard let id = principal.advertiserID, let advertiser = advertiser(id) else {
            throw HTTPError(status: 403, code: "forbidden", message: "this endpoint needs an advertiser key",
                            headers: [])
        }
        return advertiser
    }

    /// True when `principal` may act on calls of `advertiserID`: its own key, or a call center it lists.
    public func mayAccessCalls(of advertiserID: String, principal: Principal) -> Bool {
        switch principal.kind {
        case .advertiser(let id):
            return id == advertiserID
        case .callCenter(let center):
            return advertiser(advertiserID)?.callCenters.contains(center) ?? false
        }
    }
}
