#!/usr/bin/env bash
# Benchmarks the number-pool's POST /v1/leases against Redis running the same grant script, in one run.
#
# Starts its own Redis, broker and number-pool on loopback under .run/bench. At each connection count, wrk loads
# the lease endpoint and then redis-benchmark runs EVALSHA of the same Lua script. Then it measures the p99 at about
# half the peak rate and the number-pool's peak RSS, prints a table and writes .run/bench-leases.json. It stops
# everything it started, also on failure or Ctrl-C.
#
# Variables (defaults in brackets): BENCH_CONNECTIONS ["8 32 64"], BENCH_DURATION [10] seconds per wrk run,
# BENCH_POOL_SIZE [20000] numbers, BENCH_LEASE_SECONDS [2], BENCH_REDIS_REQUESTS [50000] per redis-benchmark run,
# BENCH_REDIS_PORT [6395], BENCH_KAFKA_PORT [9195], BENCH_HTTP_PORT [18181].
set -euo pipefail
cd "$(dirname "$0")/.."

connection_levels=(${BENCH_CONNECTIONS:-8 32 64})
duration=${BENCH_DURATION:-10}
# A pool of N numbers leased for S seconds grants at most N/S new leases per second before it recycles leased
# numbers, so the defaults allow 10000 per second. The script warns when a run recycled numbers.
pool_size=${BENCH_POOL_SIZE:-20000}
lease_seconds=${BENCH_LEASE_SECONDS:-2}
redis_requests=${BENCH_REDIS_REQUESTS:-50000}
redis_port=${BENCH_REDIS_PORT:-6395}
kafka_port=${BENCH_KAFKA_PORT:-9195}
http_port=${BENCH_HTTP_PORT:-18181}
probe_seconds=3
wrk_threads=2

export RUN_DIR=.run/bench BUILD_DIR=.build/release
export RINGTRAIL_REDIS_URL=redis://127.0.0.1:$redis_port/0
export RINGTRAIL_KAFKA_BROKERS=127.0.0.1:$kafka_port
# Tansu makes a consumer group join wait half the session timeout, so these settings bring it to about 3 seconds.
export RINGTRAIL_KAFKA_CONFIG=${RINGTRAIL_KAFKA_CONFIG:-session.timeout.ms=6000,heartbeat.interval.ms=500,max.poll.interval.ms=10000}
export RINGTRAIL_TENANTS=$RUN_DIR/tenants.json
report=.run/bench-leases.json
helper=scripts/bench/leases.py
results=$RUN_DIR/results.jsonl

for tool in wrk redis-benchmark redis-cli jq curl python3; do
    command -v "$tool" >/dev/null || { echo "bench-leases: $tool is missing. scripts/deps.sh installs it." >&2; exit 1; }
done
for port in "$redis_port" "$kafka_port" "$http_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "bench-leases: port $port is in use. Stop what listens there or set BENCH_*_PORT." >&2
        exit 1
    fi
done

pool_pid=
cleanup() {
    if [ -n "$pool_pid" ] && kill -0 "$pool_pid" 2>/dev/null; then
        kill -TERM "$pool_pid" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$pool_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pool_pid" 2>/dev/null || true
    fi
    scripts/stack.sh infra-down >/dev/null 2>&1 || true
}
trap cleanup EXIT

redis() { redis-cli -h 127.0.0.1 -p "$redis_port" "$@"; }

clock_ticks=$(getconf CLK_TCK)
# Prints the user plus system CPU time of process $1 in clock ticks (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Prints CPU clock ticks used so far as JSON. busy and total cover all CPUs (/proc/stat), clients are the children
# this script has waited for (wrk, redis-benchmark and the helpers), and the rest are the servers it started.
cpu_snapshot() {
    local busy total
    read -r busy total < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    jq -n -c --argjson busy "$busy" --argjson total "$total" \
        --argjson clients "$(awk '{ print $16 + $17 }' "/proc/$$/stat")" --argjson numberPool "$(cpu_ticks "$pool_pid")" \
        --argjson redis "$(cpu_ticks "$redis_pid")" --argjson broker "$(cpu_ticks "$tansu_pid")" \
        '{$busy, $total, $clients, $numberPool, $redis, $broker}'
}

# Prints each process's CPU milliseconds per request between snapshots $1 and $2 over $3 requests. It also prints
# the share of all CPU time that processes outside the benchmark used meanwhile.
cpu_usage() {
    jq -n -c --argjson before "$1" --argjson after "$2" --argjson requests "$3" --argjson hz "$clock_ticks" '
        def delta(field): $after[field] - $before[field];
        def msPerRequest(field): (delta(field) * 1000 / $hz / $requests * 1000 | round) / 1000;
        def ours: delta("clients") + delta("numberPool") + delta("redis") + delta("broker");
        {numberPool: msPerRequest("numberPool"), redis: msPerRequest("redis"), broker: msPerRequest("broker"),
         clients: msPerRequest("clients"),
         otherProcessesShare: ([0, (delta("busy") - ours) / delta("total")] | max * 1000 | round / 1000)}'
}

# Prints a stats hash (status -> count) as a JSON object.
stats_json() {
    redis --raw HGETALL "$1" | paste - - |
        jq -R -s 'split("\n") | map(select(length > 0) | split("\t") | {(.[0]): (.[1] | tonumber)}) | add // {}'
}

stats_delta() {
    jq -n -c --argjson before "$1" --argjson after "$2" \
        '$after | to_entries | map({key, value: (.value - ($before[.key] // 0))}) | from_entries'
}

# Runs wrk against the lease endpoint with $1 connections for $2 seconds, keeps its output in $3 and prints its
# bench-json line.
run_wrk() {
    local connections=$1 seconds=$2 out=$3 threads=$wrk_threads
    ((connections < threads)) && threads=$connections
    BENCH_WEB_KEY=$web_key wrk -t "$threads" -c "$connections" -d "${seconds}s" --latency \
        -s scripts/bench/lease.lua "http://127.0.0.1:$http_port" >"$out"
    python3 "$helper" wrk "$out"
}

# Runs redis-benchmark with EVALSHA of the grant script on the baseline pool with $1 connections and prints its
# rps, p50 and p99. Each __rand_int__ is replaced by its own random number, as for the service's new sessions.
run_redis_benchmark() {
    local connections=$1 out=$RUN_DIR/redis-c$1.csv
    # Nothing publishes the baseline pool's outbox, so it starts empty each time and stays below the limit.
    redis DEL "${baseline_base}outbox" >/dev/null
    redis-benchmark -h 127.0.0.1 -p "$redis_port" -c "$connections" -n "$redis_requests" -r 1000000 --csv \
        EVALSHA "$grant_sha" 5 "${baseline_base}free" "${baseline_base}sess:s-__rand_int__" \
        "${baseline_base}visitor:v-__rand_int__" "${baseline_base}stats" "${baseline_base}outbox" "$baseline_base" \
        s-__rand_int__ v-__rand_int__ "$lease_ms" "$lookback_ms" recycle "$fallback_number" "$outbox_limit" >"$out"
    python3 "$helper" redis-csv "$out"
}

# Starts from an empty Redis, because the append-only file of an earlier run would bring back its leases.
rm -rf "$RUN_DIR/redis" "$RUN_DIR/logs" "$results" "$RUN_DIR"/wrk-*.txt "$RUN_DIR"/redis-*.csv
mkdir -p "$RUN_DIR/logs"
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v cpus="$(nproc)" '{ exit !($1 > cpus) }' /proc/loadavg; then
    echo "bench-leases: warning: the load average ($load_at_start) exceeds the $(nproc) CPUs. Other processes" \
        "compete with the benchmark, so its figures will be low and noisy." >&2
fi

"$BUILD_DIR/ringtrail" replay --prepare --dir "$RUN_DIR" --speed 1 --pool-size 1000 >/dev/null
python3 "$helper" tenants "$RUN_DIR" "$pool_size" "$lease_seconds"
web_key=$(jq -r .webKey "$RUN_DIR/settings.json")
advertiser=$(jq -r .advertiserId "$RUN_DIR/settings.json")
pool=$(jq -r .poolId "$RUN_DIR/settings.json")
lookback_ms=$(jq -r '.lookbackSeconds * 1000 | floor' "$RUN_DIR/settings.json")
lease_ms=$(jq -n -r --argjson seconds "$lease_seconds" '$seconds * 1000 | floor')
# The grant script's last two arguments: a fallback number (used only by pools that do not recycle) and the outbox
# limit, LeaseOutbox.maxBacklog.
fallback_number=+15555550199
outbox_limit=$(sed -n 's/.*static let maxBacklog = \([0-9_]*\).*/\1/p' Shared/Store/LeaseOutbox.swift | tr -d _)
# The key layout of LeaseStore.grant (Shared/Store/RedisKeys.swift) with the default prefix `rt:`.
service_base="rt:{$advertiser:$pool}:"
baseline_base="rt:{$advertiser:baseline}:"

scripts/stack.sh infra-up

echo "bench-leases: starting number-pool on 127.0.0.1:$http_port with a pool of $pool_size numbers, leases of ${lease_seconds}s"
RINGTRAIL_HTTP_ADDR=127.0.0.1:$http_port "$BUILD_DIR/number-pool" >"$RUN_DIR/logs/number-pool.log" 2>&1 &
pool_pid=$!
for _ in $(seq 1 400); do
    curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
    kill -0 "$pool_pid" 2>/dev/null || {
        echo "bench-leases: number-pool exited. The end of $RUN_DIR/logs/number-pool.log follows." >&2
        tail -n 20 "$RUN_DIR/logs/number-pool.log" >&2
        exit 1
    }
    sleep 0.1
done
curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null || {
    echo "bench-leases: number-pool is not ready after about 40 seconds. See $RUN_DIR/logs/number-pool.log." >&2
    exit 1
}

first=$(curl -fsS -X POST "http://127.0.0.1:$http_port/v1/leases" -H "Authorization: Bearer $web_key" \
    -H 'Content-Type: application/json' \
    -d "{\"pool\":\"$pool\",\"sessionId\":\"bench-check\",\"visitorId\":\"bench-check\",\"userAgent\":\"Mozilla/5.0\"}")
[ "$(jq -r .status <<<"$first")" = granted ] || {
    echo "bench-leases: the first lease was not granted: $first" >&2
    exit 1
}

# The service loaded the grant script on its first lease. Redis knowing the SHA-1 of the text extracted from the
# Swift source proves that the baseline runs the very same script.
grant_sha=$(python3 "$helper" lua Shared/Store/LeaseScripts.swift grant "$RUN_DIR/grant.lua")
[ "$(redis SCRIPT EXISTS "$grant_sha")" = 1 ] || {
    echo "bench-leases: Redis has no script $grant_sha, so the Lua text extracted from LeaseScripts.swift" \
        "differs from the one the service loaded. Check the extraction in $helper." >&2
    exit 1
}

# The baseline pool has the same numbers as the service's pool, in a key space of its own.
awk -v key="${baseline_base}free" 'BEGIN { printf "ZADD %s", key } { printf " 0 %s", $1 } END { print "" }' \
    "$RUN_DIR/numbers" | redis >/dev/null
check=$(redis EVALSHA "$grant_sha" 5 "${baseline_base}free" "${baseline_base}sess:check" \
    "${baseline_base}visitor:check" "${baseline_base}stats" "${baseline_base}outbox" "$baseline_base" check check \
    "$lease_ms" "$lookback_ms" recycle "$fallback_number" "$outbox_limit" | head -n 1)
[ "$check" = granted ] || { echo "bench-leases: EVALSHA on the baseline pool returned $check instead of granted" >&2; exit 1; }

echo "bench-leases: warming up for ${probe_seconds}s"
run_wrk 8 "$probe_seconds" "$RUN_DIR/wrk-warmup.txt" >/dev/null

redis_pid=$(cat "$RUN_DIR/pids/redis")
tansu_pid=$(cat "$RUN_DIR/pids/tansu")
for connections in "${connection_levels[@]}"; do
    echo "bench-leases: $connections connections: wrk for ${duration}s, then redis-benchmark"
    before=$(stats_json "${service_base}stats")
    snapshot=$(cpu_snapshot)
    service=$(run_wrk "$connections" "$duration" "$RUN_DIR/wrk-c$connections.txt")
    cpu=$(cpu_usage "$snapshot" "$(cpu_snapshot)" "$(jq .requests <<<"$service")")
    statuses=$(stats_delta "$before" "$(stats_json "${service_base}stats")")

    before=$(stats_json "${baseline_base}stats")
    snapshot=$(cpu_snapshot)
    baseline=$(run_redis_benchmark "$connections")
    baseline_cpu=$(cpu_usage "$snapshot" "$(cpu_snapshot)" "$redis_requests")
    baseline_statuses=$(stats_delta "$before" "$(stats_json "${baseline_base}stats")")

    jq -n -c --argjson connections "$connections" --argjson service "$service" --argjson redis "$baseline" \
        --argjson statuses "$statuses" --argjson redisStatuses "$baseline_statuses" --argjson cpu "$cpu" \
        --argjson redisCpu "$baseline_cpu" \
        '{kind: "level", $connections, $service, $redis, $statuses, $redisStatuses, $cpu, $redisCpu}' >>"$results"
    jq -r '"  service \(.rps | floor) rps, p99 \(.p99Us / 1000) ms; failed requests: " +
        "\(.statusErrors + .connectErrors + .readErrors + .writeErrors + .timeouts)"' <<<"$service"
    jq -r '"  redis-benchmark \(.rps | floor) rps, p99 \(.p99Ms) ms"' <<<"$baseline"
    echo "  lease statuses: service $statuses, redis-benchmark $baseline_statuses"
    if jq -e -n --argjson a "$statuses" --argjson b "$baseline_statuses" '($a.recycled // 0) + ($b.recycled // 0) > 0' \
        >/dev/null; then
        echo "bench-leases: warning: the pool ran out of free numbers and recycled leased ones. Raise" \
            "BENCH_POOL_SIZE or lower BENCH_LEASE_SECONDS to measure grants only." >&2
    fi
done

# p99 at about half the peak. wrk has no rate limit and sends as fast as its connections allow, so short probes
# try connection counts below the peak's: doubling from 1, then the midpoint of the two around the target. The
# count whose probe came closest to half the peak then runs for the full duration.
peak_connections=$(jq -s 'map(select(.kind == "level")) | max_by(.service.rps) | .connections' "$results")
target=$(jq -s 'map(select(.kind == "level") | .service.rps) | max / 2' "$results")
echo "bench-leases: looking for about $(jq -n --argjson t "$target" '$t | floor') rps (half the peak)"
probes='[]'
probe_rps=0
# Runs a short wrk probe with $1 connections, sets probe_rps and appends the result to probes.
probe() {
    probe_rps=$(run_wrk "$1" "$probe_seconds" "$RUN_DIR/wrk-probe-c$1.txt" | jq .rps)
    probes=$(jq -c --argjson c "$1" --argjson rps "$probe_rps" '. + [{connections: $c, rps: $rps}]' <<<"$probes")
    echo "  probe: $1 connections, $probe_rps rps"
}
below=0
above=0
connections=1
while ((connections == 1 || connections < peak_connections)); do
    probe "$connections"
    if jq -e -n --argjson rps "$probe_rps" --argjson target "$target" '$rps >= $target' >/dev/null; then
        above=$connections
        break
    fi
    below=$connections
    connections=$((connections * 2))
done
if ((above > 0 && below > 0 && above - below > 1)); then
    probe $(((above + below) / 2))
fi
half_connections=$(jq --argjson target "$target" \
    'min_by((.rps - $target) | fabs) | .connections' <<<"$probes")
echo "bench-leases: half peak: $half_connections connections for ${duration}s"
snapshot=$(cpu_snapshot)
half=$(run_wrk "$half_connections" "$duration" "$RUN_DIR/wrk-half-c$half_connections.txt")
cpu=$(cpu_usage "$snapshot" "$(cpu_snapshot)" "$(jq .requests <<<"$half")")
jq -n -c --argjson connections "$half_connections" --argjson service "$half" --argjson probes "$probes" \
    --argjson cpu "$cpu" '{kind: "half-peak", $connections, $service, $probes, $cpu}' >>"$results"

# VmHWM is the peak resident set. RssAnon and RssFile split the current one into heap and stacks versus mapped
# files, mostly shared libraries whose pages other processes may share.
memory_kib() { awk -v field="$1:" '$1 == field { print $2 }' "/proc/$pool_pid/status"; }
jq -n --argjson vmHwmKiB "$(memory_kib VmHWM)" --argjson rssAnonKiB "$(memory_kib RssAnon)" \
    --argjson rssFileKiB "$(memory_kib RssFile)" --arg start "$load_at_start" --arg finish "$(cut -d' ' -f1-3 /proc/loadavg)" \
    --argjson poolSize "$pool_size" --argjson leaseSeconds "$lease_seconds" --argjson duration "$duration" \
    --argjson redisRequests "$redis_requests" --argjson wrkThreads "$wrk_threads" \
    --argjson redisConnections "${RINGTRAIL_REDIS_CONNECTIONS:-8}" --arg levels "${connection_levels[*]}" \
    '{$vmHwmKiB, $rssAnonKiB, $rssFileKiB, loadAverageAtStart: $start, loadAverageAtEnd: $finish,
      settings: {$poolSize, $leaseSeconds, durationSeconds: $duration, $redisRequests, $wrkThreads,
                 numberPoolRedisConnections: $redisConnections,
                 connections: ($levels | split(" ") | map(tonumber))}}' >"$RUN_DIR/run.json"

echo
python3 "$helper" report "$RUN_DIR" "$report"
