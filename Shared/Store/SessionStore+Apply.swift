import Foundation
import Model
import RedisKit
import ServiceKit

/// A validated web event ready to apply.
///
/// Making one computes everything the event writes (time, first-touch fields, channel, stored JSON), so callers
/// can spread that work over several threads before `SessionStore.apply` sends the batch. It keeps only those
/// values, not the event, because a batch of them waits in memory while the one before it is written.
public struct IncomingWebEvent: Sendable {
    let prepared: PreparedWebEvent

    /// - Parameters:
    ///   - receivedAt: when the broker received the event, in milliseconds.
    ///   - formPhone: the phone number an `identify` event's traits carry, normalized to E.164 by the caller (the
    ///     activity-ingester uses libphonenumber); it joins the caller-number index. Nil for none.
    public init(event: WebEvent, advertiser: Advertiser, receivedAt: Int64, formPhone: String?) {
        self.prepared = PreparedWebEvent(event: event, advertiser: advertiser, receivedAt: receivedAt,
                                         formPhone: formPhone)
    }
}

/// The result of applying one web event.
public enum ApplyResult: Sendable, Equatable {
    /// The event changed the session with this id: its own session, or a later session of the same id that
    /// started after a period of inactivity.
    case applied(sessionId: String)
    /// The message id was applied before; nothing changed.
    case duplicate(sessionId: String)
    /// Redis rejected the event's commands with a non-retriable error reply.
    case failed(reason: String)
}

extension SessionStore {
    /// Applies the events of one session from a batch, in batch order, in one call: each event gets the same result
    /// as it would alone, but the session's state is read once and written once.
    ///
    /// KEYS: session hash, events list, seen set, clicks set, phones set, routes hash.
    /// ARGV: retention ms, max events, inactivity timeout ms (0 turns splitting off), the session it continues or
    /// '', and the time now in ms. Then seven values per event: message id, event JSON, timestamp ms, flags (1 page
    /// plus 2 phone click), phone or '', a count f of first-touch field/value pairs and a count l of landing
    /// field/value pairs, followed by those pairs. First-touch fields (`firstTouchFieldNames`) are written only
    /// when absent; landing fields when the page event is the session's earliest so far.
    ///
    /// Returns a code and a visit per event: {1, 1} applied, {0, 1} for a message id seen before, and {2, n}
    /// when the event belongs to the session's n-th visit: it came more than the timeout after the last activity,
    /// or the n-th visit, the latest to begin at or before the event's time, already began. The caller then applies
    /// it to the session `<id>~<n>`. The routes hash remembers where each such message went, so a redelivered one
    /// goes to the same visit.
    ///
    /// The script avoids tables per event and repeated reads because Lua's own work was most of its cost.
    static let applyScript = RedisScript(source: """
        local session, events, seen, clicks, phones, routes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
        local retention, cap, timeout = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local previous, now = ARGV[4], tonumber(ARGV[5])

        local state = redis.call('HMGET', session, 'visit', 'visitLastAt', 'lastActiveAt', 'startedAt',
          'landingPage', 'expiresAt', \(firstTouchFieldNames.map { "'\($0)'" }.joined(separator: ", ")),
          'channel')

        -- A new session with one event in the batch, the most common call, needs none of the tables below. It
        -- writes what the general path writes for that case.
        local firstCount, landingCount = tonumber(ARGV[11]), tonumber(ARGV[12])
        if state[4] == false and #ARGV == 12 + 2 * (firstCount + landingCount) then
          local id, ts, flags = ARGV[6], ARGV[8], tonumber(ARGV[9])
          local writes = {'startedAt', ts, 'lastActiveAt', ts}
          for f = 13, 12 + 2 * firstCount do writes[#writes + 1] = ARGV[f] end
          if landingCount > 0 and flags % 2 == 1 then
            for f = 13 + 2 * firstCount, #ARGV do writes[#writes + 1] = ARGV[f] end
          end
          if previous ~= '' then
            writes[#writes + 1] = 'previousSessionId'; writes[#writes + 1] = previous
          end
          writes[#writes + 1] = 'expiresAt'; writes[#writes + 1] = now + retention
          redis.call('HSET', session, unpack(writes))
          redis.call('SADD', seen, id)
          redis.call('RPUSH', events, ARGV[7])
          redis.call('PEXPIRE', session, retention)
          redis.call('PEXPIRE', events, retention)
          redis.call('PEXPIRE', seen, retention)
          if flags >= 2 then
            redis.call('ZADD', clicks, ts, id)
            redis.call('PEXPIRE', clicks, retention)
          end
          if ARGV[10] ~= '' then
            redis.call('SADD', phones, ARGV[10])
            redis.call('PEXPIRE', phones, retention)
          end
          return {1, 1}
        end

        local starts, ids = {}, {}
        local i, last = 6, #ARGV
        while i <= last do
          starts[#starts + 1] = i
          ids[#ids + 1] = ARGV[i]
          i = i + 7 + 2 * (tonumber(ARGV[i + 5]) + tonumber(ARGV[i + 6]))
        end

        local visit, visitLastAt = tonumber(state[1]) or 1, tonumber(state[2])
        local lastActive, started, hasLanding = tonumber(state[3]), tonumber(state[4]), state[5] ~= false
        -- Every set of landing fields has a channel, also one from a page without a URL.
        local hasChannel = state[\(firstTouchFieldNames.count + 7)] ~= false
        local expiresAt, isNew = tonumber(state[6]), state[4] == false
        -- When each later visit began, by visit number, so that a late event goes to the visit under way at its
        -- time instead of rewriting the first touch of a newer one.
        local visitStarts = {}
        if visit > 1 then
          local names = {}
          for v = 2, visit do names[#names + 1] = 'visit:' .. v end
          local values = redis.call('HMGET', session, unpack(names))
          for k = 1, #values do visitStarts[k + 1] = tonumber(values[k]) end
        end
        local present = {}
        for k = 7, #state do if state[k] then present[k] = true end end
        local slot = {\(firstTouchFieldNames.enumerated().map { "['\($0.element)'] = \($0.offset + 7)" }
            .joined(separator: ", "))}

        -- Only an applied event writes startedAt and the seen set, and only a later visit writes routes, so a
        -- session without them needs neither read.
        local seenBefore, routed = {}, {}
        if not isNew then
          for n = 1, #ids, 1000 do
            local flags = redis.call('SMISMEMBER', seen, unpack(ids, n, math.min(n + 999, #ids)))
            for k = 1, #flags do if flags[k] == 1 then seenBefore[ids[n + k - 1]] = true end end
          end
        end
        if timeout > 0 and state[1] then
          for n = 1, #ids, 1000 do
            local visits = redis.call('HMGET', routes, unpack(ids, n, math.min(n + 999, #ids)))
            for k = 1, #visits do if visits[k] then routed[ids[n + k - 1]] = tonumber(visits[k]) end end
          end
        end

        local replies, writes, added, pushes, clickItems, phoneItems, newRoutes = {}, {}, {}, {}, {}, {}, {}
        local landingValues = nil
        for _, at in ipairs(starts) do
          local id, ts = ARGV[at], tonumber(ARGV[at + 2])
          local code, visitOf = 1, 1
          if routed[id] then
            code, visitOf = 2, routed[id]
          elseif seenBefore[id] then
            code = 0
          elseif timeout > 0 then
            local lastAt = visitLastAt or lastActive
            if lastAt and ts - lastAt > timeout then
              visit = visit + 1
              visitStarts[visit] = ts
              writes[#writes + 1] = 'visit'; writes[#writes + 1] = visit
              writes[#writes + 1] = 'visit:' .. visit; writes[#writes + 1] = ARGV[at + 2]
              lastAt = nil
            end
            -- The event belongs to the latest visit that began at or before its time; the first visit is this
            -- session itself. TODO(#7): an event more than the timeout older than this session joins it instead of
            -- starting an earlier visit, because visit numbers only grow. Safe for now because only a client that
            -- held an event back for longer than the timeout sends one, and the event is kept, in the visitor's
            -- first session.
            local target = 1
            for v = visit, 2, -1 do
              if (visitStarts[v] or 0) <= ts then
                target = v
                break
              end
            end
            if target == visit and visit > 1 and ((not lastAt) or ts > lastAt) then
              visitLastAt = ts
              writes[#writes + 1] = 'visitLastAt'; writes[#writes + 1] = ARGV[at + 2]
            end
            if target > 1 then
              routed[id] = target
              newRoutes[#newRoutes + 1] = id; newRoutes[#newRoutes + 1] = target
              code, visitOf = 2, target
            end
          end
          if code == 1 then
            seenBefore[id] = true
            added[#added + 1] = id
            local earliest = (not started) or ts < started
            if earliest then
              started = ts
              writes[#writes + 1] = 'startedAt'; writes[#writes + 1] = ARGV[at + 2]
            end
            if (not lastActive) or ts > lastActive then
              lastActive = ts
              writes[#writes + 1] = 'lastActiveAt'; writes[#writes + 1] = ARGV[at + 2]
            end
            local first, landing = at + 7, at + 7 + 2 * tonumber(ARGV[at + 5])
            for f = first, landing - 2, 2 do
              local k = slot[ARGV[f]]
              if not present[k] then
                present[k] = true
                writes[#writes + 1] = ARGV[f]; writes[#writes + 1] = ARGV[f + 1]
              end
            end
            local landingCount = tonumber(ARGV[at + 6])
            -- A page with a URL replaces the landing fields of a session without a landing page, or when it is
            -- the earliest event. One without a URL sets them only when the session has none, or when it is the
            -- earliest and the session has no landing page.
            local withURL = ARGV[landing] == 'landingPage'
            local replaces
            if withURL then
              replaces = (not hasLanding) or earliest
            else
              replaces = (not hasChannel) or (earliest and not hasLanding)
            end
            if landingCount > 0 and tonumber(ARGV[at + 3]) % 2 == 1 and replaces then
              -- The page replaces every landing field, so a field it lacks must not survive from another page.
              landingValues = {}
              for f = landing, landing + 2 * landingCount - 2, 2 do landingValues[ARGV[f]] = ARGV[f + 1] end
              hasLanding = hasLanding or withURL
              hasChannel = true
            end
            if previous ~= '' and not present[\(firstTouchFieldNames.firstIndex(of: "previousSessionId")! + 7)] then
              present[\(firstTouchFieldNames.firstIndex(of: "previousSessionId")! + 7)] = true
              writes[#writes + 1] = 'previousSessionId'; writes[#writes + 1] = previous
            end
            pushes[#pushes + 1] = ARGV[at + 1]
            if tonumber(ARGV[at + 3]) >= 2 then
              clickItems[#clickItems + 1] = ARGV[at + 2]; clickItems[#clickItems + 1] = id
            end
            if ARGV[at + 4] ~= '' then phoneItems[#phoneItems + 1] = ARGV[at + 4] end
          end
          replies[#replies + 1] = code
          replies[#replies + 1] = visitOf
        end

        if landingValues then
          local removed = {}
          for _, name in ipairs({\(landingFieldNames.map { "'\($0)'" }.joined(separator: ", "))}) do
            if landingValues[name] then
              writes[#writes + 1] = name; writes[#writes + 1] = landingValues[name]
            else
              removed[#removed + 1] = name
            end
          end
          if (not isNew) and #removed > 0 then redis.call('HDEL', session, unpack(removed)) end
        end

        local function chunked(command, key, items)
          for from = 1, #items, 1000 do
            redis.call(command, key, unpack(items, from, math.min(from + 999, #items)))
          end
        end

        -- Keys live for the retention period after the session's last activity. Their expiry moves when a
        -- hundredth of that period (at most an hour) has passed since it last moved, so most calls skip it.
        local applied = #added > 0
        local due = applied and ((not expiresAt) or now + retention - expiresAt > math.min(3600000, retention / 100))
        if due then writes[#writes + 1] = 'expiresAt'; writes[#writes + 1] = now + retention end
        if #writes > 0 then chunked('HSET', session, writes) end
        if #newRoutes > 0 then
          chunked('HSET', routes, newRoutes)
          redis.call('PEXPIRE', routes, retention)
          redis.call('PEXPIRE', session, retention)
        end
        if applied then
          chunked('SADD', seen, added)
          local length = 0
          for from = 1, #pushes, 1000 do
            length = redis.call('RPUSH', events, unpack(pushes, from, math.min(from + 999, #pushes)))
          end
          if length > cap then redis.call('LTRIM', events, -cap, -1) end
          if #clickItems > 0 then chunked('ZADD', clicks, clickItems) end
          if #phoneItems > 0 then chunked('SADD', phones, phoneItems) end
          if due then
            redis.call('PEXPIRE', session, retention)
            redis.call('PEXPIRE', events, retention)
            redis.call('PEXPIRE', seen, retention)
            if (not isNew) or #clickItems > 0 then redis.call('PEXPIRE', clicks, retention) end
            if (not isNew) or #phoneItems > 0 then redis.call('PEXPIRE', phones, retention) end
          else
            -- A list, set or sorted set made by this call has no expiry yet.
            if length == #pushes then redis.call('PEXPIRE', events, retention) end
            if #clickItems > 0 then redis.call('PEXPIRE', clicks, retention) end
            if #phoneItems > 0 then redis.call('PEXPIRE', phones, retention) end
          end
        end
        return replies
        """)

    /// The session fields an event writes only when the session does not have them yet.
    static let firstTouchFieldNames = ["visitorId", "isBot", "device", "location", "previousSessionId"]

    /// The session fields that the session's earliest page event sets, all together.
    static let landingFieldNames = ["landingPage", "referrer", "campaign", "clickIds", "channel"]

    /// Applies one validated web event; see `apply(_:)` for a batch.
    @discardableResult
    public func apply(_ event: WebEvent, advertiser: Advertiser, receivedAt: Int64,
                      formPhone: String? = nil) async throws -> ApplyResult {
        try await apply([IncomingWebEvent(event: event, advertiser: advertiser, receivedAt: receivedAt,
                                          formPhone: formPhone)])[0]
    }

    /// Applies a batch of validated web events in a few round trips and returns one result per event, in order.
    ///
    /// The events of each session change its keys in one script, de-duplication by message id included, in batch
    /// order. The visitor, advertiser and caller-number indexes are sorted sets and sets, written in the same round
    /// trip as the scripts and for duplicates too, so a process that died after the scripts ran loses nothing when
    /// the batch is delivered again. An event that the script moves to a later visit has that visit indexed in a
    /// second round trip. An event that Redis rejects still leaves its session in the indexes, and readers skip
    /// sessions that do not exist.
    /// - Throws: `RedisError` when Redis is unreachable or replies with a retriable error (loading, busy). Nothing
    ///   is then known to be applied, and applying the batch again is safe.
    public func apply(_ batch: [IncomingWebEvent]) async throws -> [ApplyResult] {
        guard !batch.isEmpty else { return [] }

        let prepared = batch.map(\.prepared)
        var results = [ApplyResult?](repeating: nil, count: batch.count)

        let groups = Self.groups(prepared.indices) { SessionGroupKey(prepared[$0].advertiser, prepared[$0].sessionId) }
        var routed: [(index: Int, visit: Int)] = []
        // One event per advertiser: the first chunk trims each advertiser's session index once per batch.
        var advertisers: Set<String> = []
        let trimming = prepared.filter { advertisers.insert($0.advertiser).inserted }
        let replies = try await pipelineInChunks(count: groups.count) { range in
            let members = groups[range].flatMap(\.members)
            return (range.map { command(for: groups[$0].members.map { prepared[$0] }, session: groups[$0].key.session) },
                    indexCommands(members.map { (prepared[$0], prepared[$0].sessionId) },
                                  trimming: range.lowerBound == 0 ? trimming : []))
        }
        for (group, reply) in zip(groups, replies) {
            let session = group.key.session
            for (index, code, visit) in try Self.readScriptReply(reply, members: group.members, results: &results) {
                switch code {
                case 2: routed.append((index, visit))
                case 0: results[index] = .duplicate(sessionId: session)
                default: results[index] = .applied(sessionId: session)
                }
            }
        }

        if !routed.isEmpty {
            let routed = routed
            let visitGroups = Self.groups(routed.indices) { position in
                let event = prepared[routed[position].index]
                return SessionGroupKey(event.advertiser, Self.visitSession(event.sessionId, visit: routed[position].visit))
            }
            let visitReplies = try await pipelineInChunks(count: visitGroups.count) { range in
                let scripts = range.map { position in
                    let group = visitGroups[position]
                    let first = routed[group.members[0]]
                    return command(for: group.members.map { prepared[routed[$0].index] }, session: group.key.session,
                                   previous: Self.visitSession(prepared[first.index].sessionId, visit: first.visit - 1))
                }
                let indexed = visitGroups[range].flatMap(\.members).map { position in
                    let item = routed[position]
                    return (prepared[item.index], Self.visitSession(prepared[item.index].sessionId, visit: item.visit))
                }
                return (scripts, indexCommands(indexed, trimming: []))
            }
            for (group, reply) in zip(visitGroups, visitReplies) {
                let session = group.key.session
                let members = group.members.map { routed[$0].index }
                for (index, code, _) in try Self.readScriptReply(reply, members: members, results: &results) {
                    results[index] = code == 0 ? .duplicate(sessionId: session) : .applied(sessionId: session)
                }
            }
        }
        return results.map { $0 ?? .failed(reason: "no reply from Redis") }
    }

    /// Sends `count` script calls, each chunk of them with the index writes of its events, as several pipelines at
    /// once on several connections, and returns the replies of the script calls in order.
    ///
    /// One large pipeline leaves Redis idle while the client encodes it and the client idle while Redis runs it;
    /// chunks, each encoded by its own task, overlap the two. Only for commands whose relative order across chunks
    /// does not matter, such as commands on the keys of different sessions and the indexes. `build` makes the
    /// script calls of a range and the index writes that go after them in the same pipeline, which must succeed.
    private func pipelineInChunks(
        count: Int,
        build: @escaping @Sendable (Range<Int>) -> (scripts: [PipelinedCommand], index: [[String]])
    ) async throws -> [Result<RedisValue, RedisError>] {
        let chunkSize = 64
        return try await withThrowingTaskGroup(of: (Int, [Result<RedisValue, RedisError>]).self) { group in
            for start in stride(from: 0, to: count, by: chunkSize) {
                group.addTask {
                    let range = start..<min(start + chunkSize, count)
                    let (scripts, index) = build(range)
                    let replies = try await redis.pipeline(scripts + index.map(PipelinedCommand.command))
                    for reply in replies[range.count...] { _ = try reply.get() }
                    return (start, Array(replies[..<range.count]))
                }
            }
            var chunks: [Int: [Result<RedisValue, RedisError>]] = [:]
            for try await (start, chunk) in group {
                chunks[start] = chunk
            }
            return chunks.sorted { $0.key < $1.key }.flatMap(\.value)
        }
    }

    /// Returns the id of a session's n-th visit: the id itself for the first, `<id>~<n>` after that.
    public static func visitSession(_ session: String, visit: Int) -> String {
        visit <= 1 ? session : "\(session)~\(visit)"
    }

    struct SessionGroupKey: Hashable {
        var advertiser: String
        var session: String

        init(_ advertiser: String, _ session: String) {
            self.advertiser = advertiser
            self.session = session
        }
    }

    /// Splits `items` by `key`, groups in order of first appearance and members in their own order.
    static func groups<Items: Collection>(
        _ items: Items,
        by key: (Items.Element) -> SessionGroupKey
    ) -> [(key: SessionGroupKey, members: [Items.Element])] {
        var positions: [SessionGroupKey: Int] = [:]
        var groups: [(key: SessionGroupKey, members: [Items.Element])] = []
        for item in items {
            let groupKey = key(item)
            if let position = positions[groupKey] {
                groups[position].members.append(item)
            } else {
                positions[groupKey] = groups.count
                groups.append((groupKey, [item]))
            }
        }
        return groups
    }

    /// Builds the script call for the events of one session, or of one later visit of it with `previous`.
    private func command(for events: [PreparedWebEvent], session: String, previous: String? = nil) -> PipelinedCommand {
        let first = events[0]
        let advertiser = first.advertiser
        // Visits after the first are sessions of their own and are never split again.
        let timeout = previous == nil ? first.timeout : 0
        var arguments = [String(first.retention), String(SessionStore.maxEvents), String(timeout), previous ?? "",
                         String(Int64(Date().timeIntervalSince1970 * 1000))]
        arguments.reserveCapacity(5 + events.reduce(0) { $0 + 7 + $1.firstTouch.count + $1.landing.count })
        for event in events {
            let flags = (event.isPage ? 1 : 0) + (event.isPhoneClick ? 2 : 0)
            arguments += [event.messageId, event.json, String(event.timestamp), String(flags), event.phone ?? "",
                          String(event.firstTouch.count / 2), String(event.landing.count / 2)]
            arguments += event.firstTouch
            arguments += event.landing
        }
        return .script(
            Self.applyScript,
            keys: [
                keys.session(advertiser: advertiser, session: session),
                keys.sessionEvents(advertiser: advertiser, session: session),
                keys.sessionSeen(advertiser: advertiser, session: session),
                keys.sessionPhoneClicks(advertiser: advertiser, session: session),
                keys.sessionPhones(advertiser: advertiser, session: session),
                keys.sessionRoutes(advertiser: advertiser, session: session),
            ],
            arguments: arguments
        )
    }

    /// Reads the script's {code, visit} pairs, one per member with its event's index; records a failure for every
    /// member on a non-retriable error.
    private static func readScriptReply(
        _ reply: Result<RedisValue, RedisError>,
        members: [Int],
        results: inout [ApplyResult?]
    ) throws -> [(index: Int, code: Int64, visit: Int)] {
        switch reply {
        case .failure(let error) where error.isRetriable:
            throw error
        case .failure(let error):
            for index in members { results[index] = .failed(reason: "Redis rejected the event: \(error.reason)") }
            return []
        case .success(let value):
            let parts = value.array ?? []
            var read: [(index: Int, code: Int64, visit: Int)] = []
            for (position, index) in members.enumerated() {
                guard parts.count == members.count * 2, let code = parts[position * 2].integer,
                      let visit = parts[position * 2 + 1].integer
                else {
                    results[index] = .failed(reason: "unexpected reply from the session script: \(value)")
                    continue
                }
                read.append((index, code, Int(visit)))
            }
            return read
        }
    }

    /// Index writes for events and the sessions they belong to, with repeats folded: the advertiser's session
    /// index, the visitor's sessions and the caller-number index. Each event of `trimming` also drops its
    /// advertiser's sessions past the retention period from the session index.
    private func indexCommands(
        _ events: [(event: PreparedWebEvent, session: String)],
        trimming: [PreparedWebEvent]
    ) -> [[String]] {
        var commands: [[String]] = []
        for event in trimming {
            // Sessions past the retention period leave the report index as their records expire.
            commands.append(["ZREMRANGEBYSCORE", keys.advertiserSessions(advertiser: event.advertiser), "-inf",
                             "(\(event.receivedAt - event.retention)"])
        }
        // One ZADD per advertiser adds all its sessions, so Redis parses, logs and replies to fewer commands.
        var sessionsByAdvertiser: [String: [String]] = [:]
        var indexed: Set<String> = []
        for (event, session) in events {
            let advertiser = event.advertiser
            if indexed.insert("s\u{0}\(advertiser)\u{0}\(session)").inserted {
                sessionsByAdvertiser[advertiser, default: []] += [String(event.timestamp), session]
            }
            guard let visitor = event.visitor else { continue }
            if indexed.insert("v\u{0}\(advertiser)\u{0}\(visitor)\u{0}\(session)").inserted {
                let visitorKey = keys.visitorSessions(advertiser: advertiser, visitor: visitor)
                commands.append(["ZADD", visitorKey, "NX", String(event.timestamp), session])
                commands.append(["PEXPIRE", visitorKey, String(event.retention)])
            }
            if let phone = event.phone, indexed.insert("p\u{0}\(advertiser)\u{0}\(phone)\u{0}\(visitor)").inserted {
                let phoneKey = keys.phoneVisitors(advertiser: advertiser, phone: phone)
                commands.append(["SADD", phoneKey, visitor])
                commands.append(["PEXPIRE", phoneKey, String(event.retention)])
            }
        }
        for (advertiser, members) in sessionsByAdvertiser {
            commands.append(["ZADD", keys.advertiserSessions(advertiser: advertiser), "NX"] + members)
        }
        return commands
    }
}

/// The values one web event writes, computed once before the batch goes to Redis.
struct PreparedWebEvent: Sendable {
    var advertiser: String
    var sessionId: String
    var messageId: String
    var visitor: String?
    var timestamp: Int64
    var receivedAt: Int64
    var retention: Int64
    var timeout: Int64
    var json: String
    var isPage: Bool
    var isPhoneClick: Bool
    var phone: String?
    /// Field/value pairs written when the session lacks them, and the landing page's pairs.
    var firstTouch: [String]
    var landing: [String]

    init(event: WebEvent, advertiser: Advertiser, receivedAt: Int64, formPhone: String?) {
        self.advertiser = advertiser.id
        sessionId = event.sessionId
        messageId = event.messageId
        visitor = event.anonymousId
        timestamp = SessionStore.timestamp(of: event, receivedAt: receivedAt)
        self.receivedAt = receivedAt
        retention = Int64(advertiser.retentionDays * 86_400_000)
        timeout = max(1, Int64(advertiser.sessionTimeoutSeconds * 1000))
        isPage = event.type == .page
        isPhoneClick = event.isPhoneClick
        phone = event.type == .identify ? formPhone : nil
        (firstTouch, landing) = SessionStore.firstTouchFields(of: event)
        json = Self.storedEventJSON(event, timestamp: timestamp)
    }
}

extension PreparedWebEvent {
    /// Writes the `SessionRecord.Event` that the events list keeps, by hand because a `JSONEncoder` costs more than
    /// the rest of the event's preparation. Keys are sorted, as `JSONEncoder` writes them with `.sortedKeys`.
    static func storedEventJSON(_ event: WebEvent, timestamp: Int64) -> String {
        var fields: [String] = []
        if let name = event.event { fields.append("\"event\":" + JSONText.quote(name)) }
        fields.append("\"timestamp\":" + JSONText.quote(Timestamp.format(milliseconds: timestamp)))
        if let title = event.properties?["title"]?.text { fields.append("\"title\":" + JSONText.quote(title)) }
        fields.append("\"type\":" + JSONText.quote(event.type.rawValue))
        if let url = event.pageURL { fields.append("\"url\":" + JSONText.quote(url)) }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

extension SessionStore {
    /// The event's time in milliseconds: its `timestamp`, corrected for the client's clock when `sentAt` is
    /// present (Segment's rule: `receivedAt - (sentAt - timestamp)`), else the time it was received.
    ///
    /// A time more than 5 minutes after the event was received, or before 2000, cannot be true, so the time it
    /// was received replaces it; one bad clock then cannot push a session's activity out of every report range.
    public static func timestamp(of event: WebEvent, receivedAt: Int64) -> Int64 {
        let received = event.receivedAt.flatMap(Timestamp.parseMilliseconds) ?? receivedAt
        guard let timestamp = event.timestamp.flatMap(Timestamp.parseMilliseconds) else { return received }
        var corrected = timestamp
        if let sent = event.sentAt.flatMap(Timestamp.parseMilliseconds) { corrected = received - (sent - timestamp) }
        guard corrected <= received + 300_000, corrected >= earliestPlausibleTime else { return received }
        return corrected
    }

    /// 2000-01-01T00:00:00Z in milliseconds.
    static let earliestPlausibleTime: Int64 = 946_684_800_000

    /// Returns the first-touch and landing field/value pairs of an event; landing pairs only for a page event.
    static func firstTouchFields(of event: WebEvent) -> (firstTouch: [String], landing: [String]) {
        var fields: [String] = []
        if let visitor = event.anonymousId { fields += ["visitorId", visitor] }
        // A blank user agent tells nothing about the visitor, as on the lease endpoint.
        if let userAgent = event.context?.userAgent, !BotDetector.isAbsent(userAgent) {
            fields += ["isBot", BotDetector.isBot(userAgent: userAgent) ? "1" : "0"]
            if let device = BotDetector.device(userAgent: userAgent) { fields += ["device", device] }
        }
        if let location = event.context?.location { fields += ["location", JSONWriter.text(of: location)] }
        guard event.type == .page else { return (fields, []) }

        // The landing page comes first when present: the session script looks for it there.
        let url = event.pageURL
        var landing = url.map { ["landingPage", $0] } ?? []
        let referrer = event.referrer.flatMap { $0.isEmpty ? nil : $0 }
        if let referrer { landing += ["referrer", referrer] }
        let tags = url.map(CampaignParser.tags(fromURL:)) ?? (campaign: Campaign(), clickIds: [:])
        let campaign = CampaignParser.merge(event.context?.campaign, tags.campaign)
        if !campaign.isEmpty { landing += ["campaign", JSONWriter.text(of: campaign)] }
        let clickIds = tags.clickIds
        if !clickIds.isEmpty { landing += ["clickIds", JSONWriter.text(of: clickIds)] }
        let channel = Channel.classify(landingPage: url, referrer: referrer, campaign: campaign, clickIds: clickIds)
        landing += ["channel", channel.rawValue]
        return (fields, landing)
    }
}
