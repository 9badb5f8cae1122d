#!/usr/bin/env bash
# Benchmarks the call path: Twilio voice webhook → calls.events → call-router → calls.screens, against the
# broker's own produce-to-consume latency, in one run.
#
# Starts its own Redis, broker, number-pool, activity-ingester and call-router on loopback under .run/bench-calls,
# then runs `ringtrail bench-calls`, which seeds sessions, measures the baseline with probe messages, sends
# webhooks at a fixed rate, prints a table and writes .run/bench-calls.json. Stops everything it started, also on
# failure or Ctrl-C. Each measured call's times are kept in .run/bench-calls/calls.csv.
#
# Variables (defaults in brackets): BENCH_RATE [200] calls and probes per second, BENCH_SECONDS [20] per phase,
# BENCH_SESSIONS_PER_NUMBER [5], BENCH_POOL_SIZE [50] numbers, BENCH_REDIS_PORT [6396], BENCH_KAFKA_PORT [9196].
# BENCH_FETCH_WAIT_MS [50] is the fetch.wait.max.ms of the bench's own consumers. The services take theirs from
# RINGTRAIL_KAFKA_CONFIG.
# BENCH_HTTP_PORT [18281] is the number-pool's port, and the activity-ingester and the call-router take the next two.
# BENCH_ARGS adds options to `ringtrail bench-calls`, such as --no-candidates (see `ringtrail bench-calls --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

rate=${BENCH_RATE:-200}
seconds=${BENCH_SECONDS:-20}
sessions_per_number=${BENCH_SESSIONS_PER_NUMBER:-5}
pool_size=${BENCH_POOL_SIZE:-50}
fetch_wait_ms=${BENCH_FETCH_WAIT_MS:-50}
redis_port=${BENCH_REDIS_PORT:-6396}
kafka_port=${BENCH_KAFKA_PORT:-9196}
http_port=${BENCH_HTTP_PORT:-18281}
services=(number-pool activity-ingester call-router)
declare -A service_ports=([number-pool]=$http_port [activity-ingester]=$((http_port + 1))
    [call-router]=$((http_port + 2)))

export RUN_DIR=.run/bench-calls BUILD_DIR=.build/release
export RINGTRAIL_REDIS_URL=redis://127.0.0.1:$redis_port/0
export RINGTRAIL_KAFKA_BROKERS=127.0.0.1:$kafka_port
# Tansu makes a consumer group join wait half the session timeout; these bring it to about 3 seconds.
export RINGTRAIL_KAFKA_CONFIG=${RINGTRAIL_KAFKA_CONFIG:-session.timeout.ms=6000,heartbeat.interval.ms=500,max.poll.interval.ms=10000}
export RINGTRAIL_TENANTS=$RUN_DIR/tenants.json
report=.run/bench-calls.json

for tool in redis-server curl; do
    command -v "$tool" >/dev/null || { echo "bench-calls: $tool is missing; run scripts/deps.sh" >&2; exit 1; }
done
for port in "$redis_port" "$kafka_port" "${service_ports[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "bench-calls: port $port is in use; stop what listens there or set BENCH_*_PORT" >&2
        exit 1
    fi
done

declare -A service_pids=()
cleanup() {
    for name in "${!service_pids[@]}"; do kill -TERM "${service_pids[$name]}" 2>/dev/null || true; done
    for name in "${!service_pids[@]}"; do
        local pid=${service_pids[$name]}
        for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$RUN_DIR/pids/$name"
    done
    scripts/stack.sh infra-down >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Starts from an empty Redis: the append-only file of an earlier run would bring back its leases.
rm -rf "$RUN_DIR/redis" "$RUN_DIR/logs"
mkdir -p "$RUN_DIR/logs"

"$BUILD_DIR/ringtrail" replay --prepare --dir "$RUN_DIR" --speed 1 --pool-size "$pool_size" >/dev/null
scripts/stack.sh infra-up

for name in "${services[@]}"; do
    RINGTRAIL_HTTP_ADDR=127.0.0.1:${service_ports[$name]} "$BUILD_DIR/$name" >"$RUN_DIR/logs/$name.log" 2>&1 &
    service_pids[$name]=$!
    # For `perf record -p` while the bench runs; removed again on exit.
    echo "$!" >"$RUN_DIR/pids/$name"
done
for name in "${services[@]}"; do
    port=${service_ports[$name]}
    for _ in $(seq 1 400); do
        curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
        kill -0 "${service_pids[$name]}" 2>/dev/null || {
            echo "bench-calls: $name exited; the end of $RUN_DIR/logs/$name.log:" >&2
            tail -n 20 "$RUN_DIR/logs/$name.log" >&2
            exit 1
        }
        sleep 0.1
    done
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || {
        echo "bench-calls: $name is not ready on port $port; see $RUN_DIR/logs/$name.log" >&2
        exit 1
    }
done
echo "bench-calls: services ready on ports ${service_ports[number-pool]}–${service_ports[call-router]}" \
    "(logs in $RUN_DIR/logs)"

processes=()
for name in "${services[@]}"; do processes+=(--process "$name=${service_pids[$name]}"); done
processes+=(--process "tansu=$(cat "$RUN_DIR/pids/tansu")" --process "redis=$(cat "$RUN_DIR/pids/redis")")

"$BUILD_DIR/ringtrail" bench-calls --dir "$RUN_DIR" --rate "$rate" --seconds "$seconds" \
    --sessions-per-number "$sessions_per_number" --fetch-wait-ms "$fetch_wait_ms" \
    --number-pool "http://127.0.0.1:${service_ports[number-pool]}" \
    --ingester "http://127.0.0.1:${service_ports[activity-ingester]}" \
    --call-router "http://127.0.0.1:${service_ports[call-router]}" \
    "${processes[@]}" --output "$report" --samples "$RUN_DIR/calls.csv" ${BENCH_ARGS:-}

# The call-router's own histograms (webhook handling time, screen latency), kept for profiling.
curl -fs "http://127.0.0.1:${service_ports[call-router]}/metrics" >"$RUN_DIR/call-router.metrics" || true
echo "bench-calls: the call-router's metrics are in $RUN_DIR/call-router.metrics"
