#!/usr/bin/env bash
# Builds the package, starts a Redis and a broker of the tests' own on loopback, runs every test and stops them.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUN_DIR=.run/test-${TEST_REDIS_PORT:-6390} BUILD_DIR=.build/debug
# TEST_REDIS_PORT and TEST_KAFKA_PORT move the servers, for two test runs on one machine.
export RINGTRAIL_REDIS_URL=redis://127.0.0.1:${TEST_REDIS_PORT:-6390}/0
export RINGTRAIL_KAFKA_BROKERS=127.0.0.1:${TEST_KAFKA_PORT:-9190}

swift build
cleanup() { scripts/stack.sh infra-down >/dev/null 2>&1 || true; }
trap cleanup EXIT
rm -rf "$RUN_DIR/redis"
scripts/stack.sh infra-up

# The integration tests read these; each test run uses its own topic prefix, key prefix and ports.
export RINGTRAIL_TEST_REDIS_URL=$RINGTRAIL_REDIS_URL
export RINGTRAIL_TEST_KAFKA_BROKERS=$RINGTRAIL_KAFKA_BROKERS
export RINGTRAIL_TEST_BIN=$PWD/$BUILD_DIR
unset RINGTRAIL_REDIS_URL RINGTRAIL_KAFKA_BROKERS
swift test "$@"
