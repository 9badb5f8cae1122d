/// The Redis key layout. Keys of one pool, one session, one call or one phone number share a hash tag (`{…}`) so
/// that the Lua scripts and pipelines touching them work unchanged on Redis Cluster.
public struct RedisKeys: Sendable {
    /// Prefix of every key, `rt:` by default.
    public let prefix: String

    public init(prefix: String) {
        self.prefix = prefix
    }

    // MARK: - Pools

    /// Prefix of every key of one pool; the lease scripts append `lease:<number>` and `hist:<number>` to it.
    public func poolBase(advertiser: String, pool: String) -> String { "\(prefix){\(advertiser):\(pool)}:" }

    /// Sorted set of the pool's numbers scored by when each becomes free (milliseconds since the epoch).
    public func poolFree(advertiser: String, pool: String) -> String { poolBase(advertiser: advertiser, pool: pool) + "free" }

    /// Counters of leases by status since the pool was created.
    public func poolStats(advertiser: String, pool: String) -> String {
        poolBase(advertiser: advertiser, pool: pool) + "stats"
    }

    /// The lease a session holds, `number member` (the member as in the number's history), expiring with it.
    public func poolSession(advertiser: String, pool: String, session: String) -> String {
        poolBase(advertiser: advertiser, pool: pool) + "sess:" + session
    }

    /// The number a visitor held last, kept for the lookback window.
    public func poolVisitor(advertiser: String, pool: String, visitor: String) -> String {
        poolBase(advertiser: advertiser, pool: pool) + "visitor:" + visitor
    }

    /// The live lease of a number: its value is the history member `session|visitor|fromMs`.
    public func lease(advertiser: String, pool: String, number: String) -> String {
        poolBase(advertiser: advertiser, pool: pool) + "lease:" + number
    }

    /// Sorted set of a number's leases (`session|visitor|fromMs`) scored by each lease's end.
    public func history(advertiser: String, pool: String, number: String) -> String {
        poolBase(advertiser: advertiser, pool: pool) + "hist:" + number
    }

    /// List of the pool's lease events not yet published on `number.leases`, oldest first (see `LeaseScripts`).
    public func poolOutbox(advertiser: String, pool: String) -> String {
        poolBase(advertiser: advertiser, pool: pool) + "outbox"
    }

    /// Key of the lock a publisher takes while it publishes the pool's outbox. Its value is the publisher's id.
    public func poolOutboxLock(advertiser: String, pool: String) -> String {
        poolBase(advertiser: advertiser, pool: pool) + "outbox:lock"
    }

    // MARK: - Sessions and visitors

    func sessionBase(advertiser: String, session: String) -> String { "\(prefix){\(advertiser):s:\(session)}:" }

    /// Hash of the session's attributes.
    public func session(advertiser: String, session: String) -> String {
        sessionBase(advertiser: advertiser, session: session) + "session"
    }

    /// Capped list of the session's events, oldest first.
    public func sessionEvents(advertiser: String, session: String) -> String {
        sessionBase(advertiser: advertiser, session: session) + "events"
    }

    /// Message ids already applied to the session, for de-duplication.
    public func sessionSeen(advertiser: String, session: String) -> String {
        sessionBase(advertiser: advertiser, session: session) + "seen"
    }

    /// Hash of message ids sent to a later visit of the session, with the visit's number.
    public func sessionRoutes(advertiser: String, session: String) -> String {
        sessionBase(advertiser: advertiser, session: session) + "routes"
    }

    /// Sorted set of phone-link clicks (message id scored by time).
    public func sessionPhoneClicks(advertiser: String, session: String) -> String {
        sessionBase(advertiser: advertiser, session: session) + "clicks"
    }

    /// Set of phone numbers (E.164) entered in forms during the session.
    public func sessionPhones(advertiser: String, session: String) -> String {
        sessionBase(advertiser: advertiser, session: session) + "phones"
    }

    /// Sorted set of the calls matched to the session, scored by call start.
    public func sessionCalls(advertiser: String, session: String) -> String {
        sessionBase(advertiser: advertiser, session: session) + "calls"
    }

    /// Sorted set of a visitor's sessions scored by start time.
    public func visitorSessions(advertiser: String, visitor: String) -> String {
        "\(prefix){\(advertiser):v:\(visitor)}:sessions"
    }

    /// Set of the caller numbers whose index a call matched to the visitor taught, for erasing the visitor.
    public func visitorCallers(advertiser: String, visitor: String) -> String {
        "\(prefix){\(advertiser):v:\(visitor)}:callers"
    }

    /// Set of the visitors a caller number is known for (forms and confirmed calls).
    public func phoneVisitors(advertiser: String, phone: String) -> String {
        "\(prefix){\(advertiser):p:\(phone)}:visitors"
    }

    /// Set of the calls placed from a phone number, for erasing a person by their number.
    public func phoneCalls(advertiser: String, phone: String) -> String {
        "\(prefix){\(advertiser):p:\(phone)}:calls"
    }

    // MARK: - Calls

    /// Hash of a call as the call-router sees it: carrier facts, candidates, decision, outcome.
    public func call(advertiser: String, call: String) -> String { "\(prefix){\(advertiser):c:\(call)}:call" }

    /// Event ids already applied to a call by the call-router.
    public func callSeen(advertiser: String, call: String) -> String { "\(prefix){\(advertiser):c:\(call)}:seen" }

    /// Hash of a call as the attribution-worker joined it.
    public func attribution(advertiser: String, call: String) -> String {
        "\(prefix){\(advertiser):c:\(call)}:attribution"
    }

    /// The advertiser a call id belongs to, for the agent endpoints whose path has no advertiser.
    public func callOwner(call: String) -> String { "\(prefix){c:\(call)}:owner" }

    /// Sorted set of an advertiser's attributed calls by start time, for reports and exports.
    public func advertiserCalls(advertiser: String) -> String { "\(prefix){\(advertiser)}:calls" }

    /// Sorted set of an advertiser's sessions by start time, for reports.
    public func advertiserSessions(advertiser: String) -> String { "\(prefix){\(advertiser)}:sessions" }
}
