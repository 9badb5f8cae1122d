-- wrk script for scripts/bench-leases.sh: every request is POST /v1/leases for a new session and visitor.
--
-- Environment: BENCH_WEB_KEY (required) is an API key with the `web` scope, BENCH_POOL the pool id (default main).
-- done() prints one line `bench-json {...}` with the run's counts and exact latency percentiles in microseconds.

local key = os.getenv("BENCH_WEB_KEY")
local pool = os.getenv("BENCH_POOL") or "main"
local threadCount = 0

-- Returns 8 random bytes from the kernel as 16 hex digits. A seed from os.time() would repeat for two runs started
-- within the same second, and so would their session ids.
local function randomHex()
    local file = assert(io.open("/dev/urandom", "rb"))
    local bytes = file:read(8)
    file:close()
    return (bytes:gsub(".", function(byte) return string.format("%02x", byte:byte()) end))
end

-- Runs once per thread in the main Lua state, so each thread gets its own random prefix.
function setup(thread)
    threadCount = threadCount + 1
    thread:set("prefix", randomHex() .. threadCount)
end

local headers
local counter = 0

function init(args)
    if key == nil or key == "" then
        error("BENCH_WEB_KEY is not set. scripts/bench-leases.sh sets it to the web key of its tenants file.")
    end
    headers = {
        ["Authorization"] = "Bearer " .. key,
        ["Content-Type"] = "application/json",
    }
end

function request()
    counter = counter + 1
    -- Session and visitor ids are unique across threads and runs, because they join a random per-thread prefix and
    -- a counter.
    local id = prefix .. "-" .. counter
    local body = '{"pool":"' .. pool .. '","sessionId":"s-' .. id .. '","visitorId":"v-' .. id .. '",'
        .. '"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) '
        .. 'Chrome/124.0 Safari/537.36"}'
    return wrk.format("POST", "/v1/leases", headers, body)
end

function done(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
        'bench-json {"requests":%d,"durationUs":%d,"rps":%.1f,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,'
            .. '"meanUs":%.1f,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"statusErrors":%d,'
            .. '"timeouts":%d}\n',
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
        errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
