#!/usr/bin/env bash
# Builds the libFuzzer binary over Ringtrail's input decoders and runs each fuzz target for a share of
# FUZZ_SECONDS (default 60 in all), starting from the seed corpus in Tests/FuzzCorpus/<target>/.
# A crash stops the run with a non-zero status, and the input that caused it is copied into the target's corpus
# as crash-<hash>, where `make test` replays it from then on. New inputs that only add coverage are kept under
# .build/fuzz/corpus, outside the repository.
# FUZZ_TARGETS (space-separated names of Tests/FuzzCorpus folders) limits the run to those targets.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
out=.build/fuzz
mkdir -p "$out/modules" "$out/corpus"

# The modules the targets import, compiled in dependency order with coverage instrumentation. `swift build
# -Xswiftc -sanitize=fuzzer` would apply the flag to every target, the services too, whose own `main` would then
# be linked next to libFuzzer's.
swift_flags=(-sanitize=fuzzer -parse-as-library -O -wmo -g -I "$out/modules" -I Shared/CMicroHTTPD)
build_module() {
    local name=$1 directory=$2
    shift 2
    swiftc "${swift_flags[@]}" "$@" -module-name "$name" -emit-module -emit-module-path "$out/modules/$name.swiftmodule" \
        -c "$directory"/*.swift -o "$out/modules/$name.o"
}

sources=(Shared/Model Shared/ServiceKit Shared/HTTPKit Shared/PhoneKit Shared/CPhoneNumber Shared/CarrierWebhooks
    Tests/ModelTests/FuzzTargets.swift Fuzz/main.swift scripts/fuzz.sh)
binary=$out/ringtrail-fuzz
if [ ! -x "$binary" ] || [ -n "$(find "${sources[@]}" -newer "$binary" -print -quit)" ]; then
    echo "Building $binary"
    # CPhoneNumber is a C++ target with a C header; a module map in the build folder lets Swift import it.
    mkdir -p "$out/cphonenumber"
    cp Shared/CPhoneNumber/include/CPhoneNumber.h "$out/cphonenumber/"
    printf 'module CPhoneNumber {\n    header "CPhoneNumber.h"\n    export *\n}\n' >"$out/cphonenumber/module.modulemap"
    clang++ -std=c++17 -O1 -g -fsanitize=fuzzer-no-link -I Shared/CPhoneNumber/include \
        -c Shared/CPhoneNumber/PhoneNumber.cpp -o "$out/modules/CPhoneNumber.o"

    build_module Model Shared/Model
    build_module ServiceKit Shared/ServiceKit
    build_module HTTPKit Shared/HTTPKit
    build_module PhoneKit Shared/PhoneKit -I "$out/cphonenumber"
    build_module CarrierWebhooks Shared/CarrierWebhooks -I "$out/cphonenumber"
    swiftc "${swift_flags[@]}" -I "$out/cphonenumber" -module-name RingtrailFuzz \
        Tests/ModelTests/FuzzTargets.swift Fuzz/main.swift "$out"/modules/*.o \
        -lmicrohttpd -lphonenumber -lgeocoding -licuuc -lstdc++ -o "$binary"
fi

targets=(${FUZZ_TARGETS:-cloudevent-web cloudevent-call cloudevent-match cloudevent-outcome collect telnyx generic
    twilio-form request-target phone timestamp flat-json json-value})
share=$(( seconds / ${#targets[@]} ))
if [ "$share" -lt 1 ]; then share=1; fi

for target in "${targets[@]}"; do
    seeds=Tests/FuzzCorpus/$target
    found=$out/corpus/$target
    artifacts=$out/artifacts/$target
    mkdir -p "$seeds" "$found" "$artifacts"
    echo "Fuzzing $target for ${share}s"
    # -max_len 8192 keeps inputs near real message sizes; larger bodies are bounded by the 1 MiB body limit anyway.
    # -rss_limit_mb turns unbounded memory growth into a failure.
    # SWIFT_BACKTRACE=enable=no leaves a failed precondition's signal to libFuzzer, which then writes the input;
    # Swift's own backtracer would exit first and the input would be lost.
    if ! SWIFT_BACKTRACE=enable=no RINGTRAIL_FUZZ_TARGET=$target "$binary" -max_total_time="$share" -max_len=8192 -rss_limit_mb=1024 \
        -timeout=10 -print_final_stats=0 -artifact_prefix="$artifacts/" "$found" "$seeds" \
        >"$out/$target.log" 2>&1; then
        tail -n 40 "$out/$target.log"
        for crash in "$artifacts"/*; do
            [ -f "$crash" ] || continue
            name=crash-$(sha1sum "$crash" | cut -c1-12)
            cp "$crash" "$seeds/$name"
            echo "Fuzz target $target failed; the input is saved as $seeds/$name" >&2
        done
        exit 1
    fi
    grep -E "^(#[0-9]+\s+DONE|Done [0-9]+ runs)" "$out/$target.log" | tail -n 1 || true
done
echo "Fuzzing finished without a crash"
