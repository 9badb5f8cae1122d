#!/usr/bin/env bash
# Starts and stops the local stack on loopback: Redis, the Tansu broker and the four services.
#
#   scripts/stack.sh infra-up | infra-down | redis-up | services-up | services-down | down | status
#
# Honours RINGTRAIL_REDIS_URL and RINGTRAIL_KAFKA_BROKERS (their ports are used for the servers it starts),
# RINGTRAIL_TENANTS and the other RINGTRAIL_* variables, which the services read themselves. State, logs and
# process ids go under RUN_DIR (default .run). BUILD_DIR selects the binaries (default .build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

run_dir=${RUN_DIR:-.run}
build_dir=${BUILD_DIR:-.build/release}
redis_url=${RINGTRAIL_REDIS_URL:-redis://127.0.0.1:6379/0}
brokers=${RINGTRAIL_KAFKA_BROKERS:-127.0.0.1:9092}
redis_port=$(echo "$redis_url" | sed -E 's#^redis://([^@/]*@)?[^:/]+:?([0-9]*).*#\2#')
redis_port=${redis_port:-6379}
kafka_port=${brokers##*:}
services=(number-pool activity-ingester call-router attribution-worker)
mkdir -p "$run_dir/pids" "$run_dir/logs"

# True when the process of the pid file exists and is not a zombie: a process killed a moment ago may not be
# reaped yet, and `kill -0` still finds it.
is_running() {
    [ -f "$run_dir/pids/$1" ] || return 1
    local state
    state=$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$(cat "$run_dir/pids/$1")/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

wait_for_port() {
    local port=$1 name=$2
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "stack: $name did not open port $port; see $run_dir/logs/$name.log" >&2
    return 1
}

stop() {
    local name=$1 grace=${2:-15}
    is_running "$name" || { rm -f "$run_dir/pids/$name"; return 0; }
    local pid
    pid=$(cat "$run_dir/pids/$name")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((grace * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "stack: $name did not stop within ${grace}s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$run_dir/pids/$name"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts Redis with append-only persistence in $run_dir/redis, so a restart keeps its data.
redis_up() {
    is_running redis && return 0
    mkdir -p "$run_dir/redis"
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$root/$run_dir/redis" --appendonly yes \
        --appendfsync everysec --save "" --daemonize no >>"$run_dir/logs/redis.log" 2>&1 &
    echo $! >"$run_dir/pids/redis"
    wait_for_port "$redis_port" redis
}

# Waits while a server's process runs but its port is closed, until the port opens or the process exits. A broker
# does this for about 2 s after it closes its port on SIGTERM. Returns 1 when neither happens within 30 s.
settle() {
    local name=$1 port=$2
    for _ in $(seq 1 300); do
        is_running "$name" || return 0
        port_in_use "$port" && return 0
        sleep 0.1
    done
    echo "stack: $name (pid $(cat "$run_dir/pids/$name")) runs but does not listen on port $port; stop it" \
        "with 'scripts/stack.sh infra-down' or kill it, then run this again" >&2
    return 1
}

infra_up() {
    # Each server is started unless its own process is running, so one that stopped can be started alone.
    for server in redis:$redis_port tansu:$kafka_port; do
        local name=${server%%:*} port=${server##*:}
        settle "$name" "$port" || return 1
        if port_in_use "$port" && ! is_running "$name"; then
            echo "stack: port $port on 127.0.0.1 is already in use by another program; stop it or choose other" \
                "ports (RINGTRAIL_REDIS_URL, RINGTRAIL_KAFKA_BROKERS; TEST_REDIS_PORT, TEST_KAFKA_PORT for make test)" >&2
            return 1
        fi
    done
    redis_up
    local started=0
    if ! is_running tansu; then
        broker_start
        started=1
    fi
    if ! RINGTRAIL_KAFKA_BROKERS=$brokers "$build_dir/ringtrail" topics 2>"$run_dir/logs/topics.err"; then
        # A broker that got SIGTERM keeps its port open for about 5 s before it exits, so it looked running here.
        if [ "$started" = 1 ] || ! wait_for_exit tansu 15; then
            cat "$run_dir/logs/topics.err" >&2
            echo "stack: the broker on port $kafka_port does not respond; see $run_dir/logs/tansu.log" >&2
            return 1
        fi
        echo "stack: the broker was shutting down; starting a new one" >&2
        broker_start
        RINGTRAIL_KAFKA_BROKERS=$brokers "$build_dir/ringtrail" topics
    fi
    echo "stack: Redis on 127.0.0.1:$redis_port, broker on 127.0.0.1:$kafka_port"
}

broker_start() {
    .deps/bin/tansu broker --listener-url "tcp://127.0.0.1:$kafka_port" \
        --advertised-listener-url "tcp://127.0.0.1:$kafka_port" --storage-engine memory://tansu/ \
        >"$run_dir/logs/tansu.log" 2>&1 &
    echo $! >"$run_dir/pids/tansu"
    wait_for_port "$kafka_port" tansu
}

# Waits up to $2 seconds for the process of a pid file to exit. Returns 1 when it still runs.
wait_for_exit() {
    local name=$1 seconds=$2
    for _ in $(seq 1 $((seconds * 10))); do
        is_running "$name" || { rm -f "$run_dir/pids/$name"; return 0; }
        sleep 0.1
    done
    return 1
}

port_of() {
    case $1 in
    number-pool) echo "${NUMBER_POOL_PORT:-8081}" ;;
    activity-ingester) echo "${ACTIVITY_INGESTER_PORT:-8082}" ;;
    call-router) echo "${CALL_ROUTER_PORT:-8083}" ;;
    attribution-worker) echo "${ATTRIBUTION_WORKER_PORT:-8084}" ;;
    esac
}

services_up() {
    for name in "${services[@]}"; do
        is_running "$name" && continue
        RINGTRAIL_HTTP_ADDR="127.0.0.1:$(port_of "$name")" "$build_dir/$name" >>"$run_dir/logs/$name.log" 2>&1 &
        echo $! >"$run_dir/pids/$name"
    done
    for name in "${services[@]}"; do
        local port ready=
        port=$(port_of "$name")
        # One 200 from readyz is enough. Asking again can fail on a loaded machine, where readyz's one-second
        # broker check is slow, although the service works.
        for _ in $(seq 1 400); do
            if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
            if ! is_running "$name"; then
                echo "stack: $name exited; the end of $run_dir/logs/$name.log:" >&2
                tail -n 20 "$run_dir/logs/$name.log" >&2
                return 1
            fi
            sleep 0.1
        done
        [ -n "$ready" ] || {
            echo "stack: $name is not ready on port $port; see $run_dir/logs/$name.log" >&2
            return 1
        }
    done
    echo "stack: services ready (logs in $run_dir/logs)"
}

services_down() { for name in "${services[@]}"; do stop "$name" 20 & done; wait; }

infra_down() {
    stop tansu 10
    stop redis 10
}

case ${1:-} in
infra-up) infra_up ;;
infra-down) infra_down ;;
redis-up) redis_up ;;
services-up) services_up ;;
services-down) services_down ;;
down) services_down; infra_down ;;
status)
    for name in redis tansu "${services[@]}"; do
        if is_running "$name"; then echo "$name: running (pid $(cat "$run_dir/pids/$name"))"; else echo "$name: stopped"; fi
    done
    ;;
*) echo "usage: $0 infra-up|infra-down|redis-up|services-up|services-down|down|status" >&2; exit 2 ;;
esac
