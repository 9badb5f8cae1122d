#!/usr/bin/env bash
# Builds the package, starts a Redis and a broker of the tests' own on loopback, runs every test and stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUN_DIR=.run/test-${TEST_REDIS_PORT:-6390} BUILD_DIR=.build/debug
# TEST_REDIS_PORT and TEST_KAFKA_PORT move the servers, for two test runs on one machine.
export RINGTRAIL_REDIS_URL=redis://127.0.0.1:${TEST_REDIS_PORT:-6390}/0
export RINGTRAIL_KAFKA_BROKERS=127.0.0.1:${TEST_KAFKA_PORT:-9190}

swift build
pids_file=$PWD/$RUN_DIR/test-pids
cleanup() {
    # The tests stop the services they start; after a crash of the test process this stops what is left.
    if [ -f "$pids_file" ]; then xargs -r kill -KILL <"$pids_file" 2>/dev/null || true; fi
    rm -f "$pids_file"
    scripts/stack.sh infra-down >/dev/null 2>&1 || true
}
trap cleanup EXIT
rm -rf "$RUN_DIR/redis"
scripts/stack.sh infra-up

# The integration tests read these; each test run uses its own topic prefix, key prefix and ports.
export RINGTRAIL_TEST_REDIS_URL=$RINGTRAIL_REDIS_URL
export RINGTRAIL_TEST_KAFKA_BROKERS=$RINGTRAIL_KAFKA_BROKERS
export RINGTRAIL_TEST_BIN=$PWD/$BUILD_DIR
mkdir -p "$RUN_DIR" && : >"$pids_file"
export RINGTRAIL_TEST_PIDS_FILE=$pids_file
unset RINGTRAIL_REDIS_URL RINGTRAIL_KAFKA_BROKERS
swift test "$@"
