#!/usr/bin/env bash
# Benchmarks the activity-ingester: the real access log amplified into web.activity, events per second from the
# first produced to the last applied in Redis, against a raw librdkafka consumer reading the same topic, plus the
# collect endpoint's requests per second.
#
# Starts its own Redis, broker and activity-ingester on loopback under .run/bench-ingest, runs
# `ringtrail bench-ingest`, prints a table and writes .run/bench-ingest.json. Stops everything it started, also on
# failure or Ctrl-C.
#
# Variables (defaults in brackets): BENCH_COPIES [20] copies of the log, BENCH_LOG
# [../shared/data/web-traffic/access.log], BENCH_PARTITIONS [4] partitions of web.activity, BENCH_REDIS_PORT
# [6398], BENCH_KAFKA_PORT [9198], BENCH_HTTP_PORT [18481]. BENCH_ARGS adds options to `ringtrail bench-ingest`
# (see `ringtrail bench-ingest --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

copies=${BENCH_COPIES:-20}
log=${BENCH_LOG:-../shared/data/web-traffic/access.log}
partitions=${BENCH_PARTITIONS:-4}
redis_port=${BENCH_REDIS_PORT:-6398}
kafka_port=${BENCH_KAFKA_PORT:-9198}
http_port=${BENCH_HTTP_PORT:-18481}

export RUN_DIR=.run/bench-ingest BUILD_DIR=.build/release
export RINGTRAIL_REDIS_URL=redis://127.0.0.1:$redis_port/0
export RINGTRAIL_KAFKA_BROKERS=127.0.0.1:$kafka_port
export RINGTRAIL_KAFKA_CONFIG=${RINGTRAIL_KAFKA_CONFIG:-session.timeout.ms=6000,heartbeat.interval.ms=500,max.poll.interval.ms=10000}
export RINGTRAIL_TENANTS=$RUN_DIR/tenants.json
report=.run/bench-ingest.json

[ -f "$log" ] && [ -r "$log" ] || { echo "bench-ingest: cannot read the access log $log; set BENCH_LOG" >&2; exit 1; }
for setting in "BENCH_COPIES=$copies" "BENCH_PARTITIONS=$partitions"; do
    [[ ${setting#*=} =~ ^[1-9][0-9]*$ ]] || {
        echo "bench-ingest: ${setting%%=*} must be a positive whole number, got '${setting#*=}'" >&2
        exit 1
    }
done
for setting in "BENCH_REDIS_PORT=$redis_port" "BENCH_KAFKA_PORT=$kafka_port" "BENCH_HTTP_PORT=$http_port"; do
    value=${setting#*=}
    [[ $value =~ ^[1-9][0-9]{0,4}$ ]] && [ "$value" -le 65535 ] || {
        echo "bench-ingest: ${setting%%=*} must be a port from 1 to 65535, got '$value'" >&2
        exit 1
    }
done
for binary in ringtrail activity-ingester; do
    [ -x "$BUILD_DIR/$binary" ] || {
        echo "bench-ingest: $BUILD_DIR/$binary is missing; run 'swift build -c release' or 'make bench-ingest'" >&2
        exit 1
    }
done
for tool in redis-server curl; do
    command -v "$tool" >/dev/null || { echo "bench-ingest: $tool is missing; run scripts/deps.sh" >&2; exit 1; }
done
for port in "$redis_port" "$kafka_port" "$http_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "bench-ingest: port $port is in use; stop what listens there or set BENCH_*_PORT" >&2
        exit 1
    fi
done

ingester_pid=
cleanup() {
    if [ -n "$ingester_pid" ]; then
        kill -TERM "$ingester_pid" 2>/dev/null || true
        for _ in $(seq 1 200); do kill -0 "$ingester_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$ingester_pid" 2>/dev/null || true
    fi
    scripts/stack.sh infra-down >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Starts from an empty Redis: the append-only file of an earlier run would already hold its sessions.
rm -rf "$RUN_DIR/redis" "$RUN_DIR/logs"
mkdir -p "$RUN_DIR/logs"

"$BUILD_DIR/ringtrail" replay --prepare --dir "$RUN_DIR" --speed 1 >/dev/null
scripts/stack.sh infra-up
"$BUILD_DIR/ringtrail" topics --partitions "$partitions" >/dev/null

RINGTRAIL_HTTP_ADDR=127.0.0.1:$http_port "$BUILD_DIR/activity-ingester" >"$RUN_DIR/logs/activity-ingester.log" 2>&1 &
ingester_pid=$!
# For `perf record -p` while the bench runs.
echo "$ingester_pid" >"$RUN_DIR/pids/activity-ingester"
for _ in $(seq 1 400); do
    curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
    kill -0 "$ingester_pid" 2>/dev/null || {
        echo "bench-ingest: the activity-ingester exited; the end of $RUN_DIR/logs/activity-ingester.log:" >&2
        tail -n 20 "$RUN_DIR/logs/activity-ingester.log" >&2
        exit 1
    }
    sleep 0.1
done
# The consumer joins its group after the HTTP server is ready; the broker assigns partitions a few seconds later.
sleep 5

"$BUILD_DIR/ringtrail" bench-ingest --dir "$RUN_DIR" --log "$log" --copies "$copies" \
    --ingester "http://127.0.0.1:$http_port" --ingester-pid "$ingester_pid" \
    --process "activity-ingester=$ingester_pid" --process "tansu=$(cat "$RUN_DIR/pids/tansu")" \
    --process "redis=$(cat "$RUN_DIR/pids/redis")" --output "$report" ${BENCH_ARGS:-}
# Redis's time per command, for finding where its share of the run went.
redis-cli -p "$redis_port" info commandstats >"$RUN_DIR/redis-commandstats.txt" 2>/dev/null || true
