#!/usr/bin/env bash
# Starts Redis, the broker and the four services in the background for trying the APIs by hand.
#
# Without RINGTRAIL_TENANTS it writes a tenants file of its own under .run/up (advertiser `acme`, pool `main`
# with ten numbers) and prints its keys and Twilio token. Every other RINGTRAIL_* variable is passed on.
set -euo pipefail
cd "$(dirname "$0")/.."

export BUILD_DIR=${BUILD_DIR:-.build/release}
if [ -z "${RINGTRAIL_TENANTS:-}" ]; then
    if [ ! -f .run/up/settings.json ]; then
        "$BUILD_DIR/ringtrail" replay --prepare --dir .run/up --speed 1 >/dev/null
    fi
    export RINGTRAIL_TENANTS=.run/up/tenants.json
    python3 - <<'PYTHON'
import json
settings = json.load(open(".run/up/settings.json"))
print("up: tenants file .run/up/tenants.json: advertiser acme, pool main with numbers",
      ", ".join(settings["numbers"][:3]), "...")
print("up: web key   ", settings["webKey"])
print("up: read key  ", settings["readKey"])
print("up: agent key ", settings["agentKey"], "(call center replay-agents)")
print("up: Twilio auth token", settings["twilioAuthToken"])
PYTHON
fi
# Tansu makes a consumer group join wait half the session timeout; these bring it to about 3 seconds.
export RINGTRAIL_KAFKA_CONFIG=${RINGTRAIL_KAFKA_CONFIG:-session.timeout.ms=6000,heartbeat.interval.ms=500,max.poll.interval.ms=10000}
scripts/stack.sh infra-up
scripts/stack.sh services-up
echo "up: try  curl -s -X POST http://127.0.0.1:${NUMBER_POOL_PORT:-8081}/v1/leases -H 'Authorization: Bearer <web key>' \\"
echo "          -H 'Content-Type: application/json' -d '{\"pool\": \"main\"}'"
echo "up: stop with  make down"
