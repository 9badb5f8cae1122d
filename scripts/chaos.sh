#!/usr/bin/env bash
# `make chaos`: replays traffic through the whole pipeline while a fault injector, at seeded random moments, kills
# each service with SIGKILL and restarts it, cuts the services off from the broker, and restarts Redis. Then it
# lets the pipeline drain and runs `ringtrail chaos-check`, which prints the table and writes .run/chaos.json.
#
# The services reach the broker through `tansu proxy`, so stopping the proxy cuts them off while the broker keeps
# its data. Variables and defaults: SEED (42), LOG (an access log, else generated traffic), SPEED (1000) and
# DURATION (240, the seconds over which faults are spread). ROUNDS (2) is how many times every service is killed,
# the broker cut off and Redis restarted, and OUTAGE_SECONDS (20) how long a cut lasts. The ports are
# CHAOS_REDIS_PORT (6397), CHAOS_BROKER_PORT (9197), CHAOS_PROXY_PORT (9297) and CHAOS_SERVICE_PORT (18381, the
# first of four).
set -euo pipefail
cd "$(dirname "$0")/.."

seed=${SEED:-42}
speed=${SPEED:-1000}
duration=${DURATION:-240}
rounds=${ROUNDS:-2}
outage=${OUTAGE_SECONDS:-20}
redis_port=${CHAOS_REDIS_PORT:-6397}
broker_port=${CHAOS_BROKER_PORT:-9197}
proxy_port=${CHAOS_PROXY_PORT:-9297}
service_port=${CHAOS_SERVICE_PORT:-18381}

export RUN_DIR=.run/chaos BUILD_DIR=.build/release
export RINGTRAIL_REDIS_URL=redis://127.0.0.1:$redis_port/0
export RINGTRAIL_KAFKA_CONFIG=${RINGTRAIL_KAFKA_CONFIG:-session.timeout.ms=6000,heartbeat.interval.ms=500,max.poll.interval.ms=10000}
export RINGTRAIL_TENANTS=$RUN_DIR/replay/tenants.json
export NUMBER_POOL_PORT=$service_port ACTIVITY_INGESTER_PORT=$((service_port + 1))
export CALL_ROUTER_PORT=$((service_port + 2)) ATTRIBUTION_WORKER_PORT=$((service_port + 3))
direct=127.0.0.1:$broker_port
proxied=127.0.0.1:$proxy_port
services=(number-pool activity-ingester call-router attribution-worker)

for port in "$redis_port" "$broker_port" "$proxy_port" "$service_port" $((service_port + 1)) \
    $((service_port + 2)) $((service_port + 3)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "chaos: port $port is in use; stop what listens there or choose other CHAOS_*_PORT values" >&2
        exit 1
    fi
done

log() { echo "chaos: $(date -u +%H:%M:%S) $*"; }

is_running() { [ -f "$RUN_DIR/pids/$1" ] && kill -0 "$(cat "$RUN_DIR/pids/$1")" 2>/dev/null; }

wait_until_gone() {
    local pid=$1
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

proxy_up() {
    is_running proxy && return 0
    .deps/bin/tansu proxy --listener-url "tcp://$proxied" --advertised-listener-url "tcp://$proxied" \
        --origin-url "tcp://$direct" >>"$RUN_DIR/logs/proxy.log" 2>&1 &
    echo $! >"$RUN_DIR/pids/proxy"
    # Killing it is a planned fault; disowned, bash does not report it as "Killed".
    disown $!
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$proxy_port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "chaos: the proxy did not open port $proxy_port; see $RUN_DIR/logs/proxy.log" >&2
    return 1
}

services_up() { RINGTRAIL_KAFKA_BROKERS=$proxied scripts/stack.sh services-up >/dev/null; }

stop_process() {
    local name=$1
    if is_running "$name"; then
        kill -KILL "$(cat "$RUN_DIR/pids/$name")" 2>/dev/null || true
        wait_until_gone "$(cat "$RUN_DIR/pids/$name")" || true
    fi
    rm -f "$RUN_DIR/pids/$name"
}

cleanup() {
    [ -n "${injector:-}" ] && kill "$injector" 2>/dev/null
    RINGTRAIL_KAFKA_BROKERS=$direct scripts/stack.sh services-down >/dev/null 2>&1 || true
    stop_process proxy
    RINGTRAIL_KAFKA_BROKERS=$direct scripts/stack.sh infra-down >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Logs every service that exited although no fault killed it, such as after a crash.
note_unexpected_exits() {
    for name in "${services[@]}"; do
        if ! is_running "$name"; then
            log "$name exited on its own; the end of its log:"
            tail -n 5 "$RUN_DIR/logs/$name.log"
            echo "$name" >>"$RUN_DIR/unexpected-exits"
        fi
    done
}

# One fault, then the state before it is restored. Counts go to $RUN_DIR/faults/<kind>.
inject() {
    local kind=$1 target=${2:-}
    note_unexpected_exits
    case $kind in
    serviceKill)
        log "SIGKILL $target"
        local pid
        pid=$(cat "$RUN_DIR/pids/$target")
        kill -KILL "$pid"
        wait_until_gone "$pid"
        services_up || log "restarting $target failed; see $RUN_DIR/logs/$target.log"
        log "$target restarted and ready"
        ;;
    brokerCut)
        log "stopping the broker proxy for ${outage}s"
        stop_process proxy
        sleep "$outage"
        proxy_up
        log "broker proxy restarted"
        ;;
    redisRestart)
        log "restarting Redis (SHUTDOWN writes the append-only file; the new server loads it)"
        local pid
        pid=$(cat "$RUN_DIR/pids/redis")
        redis-cli -p "$redis_port" shutdown >/dev/null 2>&1 || true
        wait_until_gone "$pid"
        sleep 2
        RINGTRAIL_KAFKA_BROKERS=$direct scripts/stack.sh redis-up >/dev/null
        log "Redis restarted"
        ;;
    esac
    echo "$target" >>"$RUN_DIR/faults/$kind"
}

# The schedule: ROUNDS times every fault kind, shuffled, at sorted random moments within DURATION seconds.
# Bash's RANDOM repeats its sequence for the same seed.
run_faults() {
    # A failed step is logged and the schedule goes on; the final restart below brings everything back.
    set +e
    RANDOM=$seed
    local faults=() moments=() i j
    for ((i = 0; i < rounds; i++)); do
        for name in "${services[@]}"; do faults+=("serviceKill $name"); done
        faults+=("brokerCut" "redisRestart")
    done
    for ((i = ${#faults[@]} - 1; i > 0; i--)); do
        j=$((RANDOM % (i + 1)))
        local swap=${faults[i]}
        faults[i]=${faults[j]}
        faults[j]=$swap
    done
    for ((i = 0; i < ${#faults[@]}; i++)); do moments+=($((10 + RANDOM % (duration - 10)))); done
    mapfile -t moments < <(printf '%s\n' "${moments[@]}" | sort -n)
    local start=$SECONDS
    for ((i = 0; i < ${#faults[@]}; i++)); do
        local wait=$((moments[i] - (SECONDS - start)))
        if ((wait > 0)); then sleep "$wait"; fi
        # shellcheck disable=SC2086
        inject ${faults[i]}
    done
    log "all ${#faults[@]} faults injected"
}

rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/logs" "$RUN_DIR/pids" "$RUN_DIR/faults"
replay_options=(--dir "$RUN_DIR/replay" --speed "$speed" --seed "$seed")
service_urls=(--number-pool "http://127.0.0.1:$service_port" --ingester "http://127.0.0.1:$((service_port + 1))"
    --call-router "http://127.0.0.1:$((service_port + 2))" --attribution "http://127.0.0.1:$((service_port + 3))")
"$BUILD_DIR/ringtrail" replay --prepare "${replay_options[@]}" --pool-size "${POOL_SIZE:-10}"
RINGTRAIL_KAFKA_BROKERS=$direct scripts/stack.sh infra-up
proxy_up
services_up
log "stack ready: services on ports $service_port-$((service_port + 3)) reach the broker through the proxy"

run_faults >"$RUN_DIR/logs/faults.log" 2>&1 &
injector=$!
if [ -n "${LOG:-}" ]; then replay_options+=(--log "$LOG"); fi
# The replay reads its report straight from the broker; its HTTP requests outlast an outage by retrying.
RINGTRAIL_KAFKA_BROKERS=$direct "$BUILD_DIR/ringtrail" replay "${replay_options[@]}" "${service_urls[@]}" \
    --call-share "${CALL_SHARE:-0.15}" --retry-for $((outage + 40)) ||
    log "the replay's own report failed; the check below uses what it acknowledged"
log "traffic done; waiting for the fault injector to finish its schedule"
wait "$injector" || true
injector=
cat "$RUN_DIR/logs/faults.log"

# Everything back up before the check, also a service that crashed on its own.
note_unexpected_exits >>"$RUN_DIR/logs/faults.log"
if [ -f "$RUN_DIR/unexpected-exits" ]; then
    log "services that exited without a fault: $(sort "$RUN_DIR/unexpected-exits" | uniq -c | xargs)"
fi
proxy_up
RINGTRAIL_KAFKA_BROKERS=$direct scripts/stack.sh redis-up >/dev/null
services_up
faults_json="{"
for kind in serviceKill brokerCut redisRestart; do
    count=$(cat "$RUN_DIR/faults/$kind" 2>/dev/null | wc -l)
    faults_json+="\"$kind\": $count, "
done
echo "${faults_json%, }}" >"$RUN_DIR/faults.json"
RINGTRAIL_KAFKA_BROKERS=$direct "$BUILD_DIR/ringtrail" chaos-check --dir "$RUN_DIR/replay" \
    --faults "$RUN_DIR/faults.json" --drain 120 --output .run/chaos.json
