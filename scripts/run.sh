#!/usr/bin/env bash
# The main job: starts Redis, the broker and the services under .run/run, replays LOG (or generated traffic),
# prints the report and stops everything it started, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUN_DIR=.run/run BUILD_DIR=.build/release
export RINGTRAIL_REDIS_URL=${RINGTRAIL_REDIS_URL:-redis://127.0.0.1:6379/0}
export RINGTRAIL_KAFKA_BROKERS=${RINGTRAIL_KAFKA_BROKERS:-127.0.0.1:9092}
# Tansu makes a consumer group join wait half the session timeout; these bring it to about 3 seconds.
export RINGTRAIL_KAFKA_CONFIG=${RINGTRAIL_KAFKA_CONFIG:-session.timeout.ms=6000,heartbeat.interval.ms=500,max.poll.interval.ms=10000}
export RINGTRAIL_TENANTS=$RUN_DIR/replay/tenants.json

for port in "${RINGTRAIL_REDIS_URL##*:}" "${RINGTRAIL_KAFKA_BROKERS##*:}" 8081 8082 8083 8084; do
    port=${port%%/*}
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "run: port $port is in use; stop what listens there (\`make down\` stops the stack of \`make up\`)" >&2
        exit 1
    fi
done

cleanup() { scripts/stack.sh down >/dev/null 2>&1 || true; }
trap cleanup EXIT

rm -rf "$RUN_DIR/redis" "$RUN_DIR/logs"
replay_options=(--dir "$RUN_DIR/replay" --speed "${SPEED:-1000}" --seed "${SEED:-42}")
"$BUILD_DIR/ringtrail" replay --prepare "${replay_options[@]}" --pool-size "${POOL_SIZE:-10}"
scripts/stack.sh infra-up
scripts/stack.sh services-up
if [ -n "${LOG:-}" ]; then replay_options+=(--log "$LOG"); fi
"$BUILD_DIR/ringtrail" replay "${replay_options[@]}" --call-share "${CALL_SHARE:-0.15}"
