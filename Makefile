# Ringtrail: `make run` replays traffic through the whole pipeline and reports; `make test` runs every test.
# Both install what is missing (Debian packages, a current librdkafka, the Tansu broker) and start Redis and the
# broker on loopback under .run/.
SHELL := /bin/bash

LOG ?=
SPEED ?= 1000
SEED ?= 42
POOL_SIZE ?= 10
CALL_SHARE ?= 0.15
FUZZ_SECONDS ?= 60

DURATION ?= 240
ROUNDS ?= 2

.PHONY: all deps build build-debug run test fuzz chaos bench-leases bench-calls bench-ingest up down status clean

all: build

deps:
	@scripts/deps.sh

build: deps
	swift build -c release

build-debug: deps
	swift build

## The main job: the whole pipeline replaying LOG (or seeded generated traffic), with a report at the end.
run: build
	LOG="$(LOG)" SPEED="$(SPEED)" SEED="$(SEED)" POOL_SIZE="$(POOL_SIZE)" CALL_SHARE="$(CALL_SHARE)" scripts/run.sh

## The replay of `run` under faults (services killed, broker cut off, Redis restarted), then a check that nothing
## acknowledged was lost (ports 6397, 9197, 9297, 18381-18384); writes .run/chaos.json.
chaos: build
	LOG="$(LOG)" SPEED="$(SPEED)" SEED="$(SEED)" POOL_SIZE="$(POOL_SIZE)" CALL_SHARE="$(CALL_SHARE)" \
		DURATION="$(DURATION)" ROUNDS="$(ROUNDS)" scripts/chaos.sh

## Unit and integration tests against a Redis and a broker of their own (ports 6390 and 9190).
test: deps
	scripts/test.sh

## libFuzzer over the input decoders for FUZZ_SECONDS in all (default 60); a crash input is kept in Tests/FuzzCorpus.
fuzz: deps
	FUZZ_SECONDS="$(FUZZ_SECONDS)" scripts/fuzz.sh

## The lease endpoint against Redis running the same Lua script (ports 6395, 9195, 18181); see docs/benchmarks.md.
bench-leases: build
	scripts/bench-leases.sh

## Twilio webhook to calls.screens latency against the broker's own (ports 6396, 9196, 18281-18283); see docs/benchmarks.md.
bench-calls: build
	scripts/bench-calls.sh

## Amplified real traffic through the activity-ingester against a raw consumer (ports 6398, 9198, 18481); see docs/benchmarks.md.
bench-ingest: build
	scripts/bench-ingest.sh

## Redis, the broker and the four services in the background, for trying the APIs by hand.
up: build
	scripts/up.sh

down:
	scripts/stack.sh down

status:
	scripts/stack.sh status

clean: down
	rm -rf .build .run
