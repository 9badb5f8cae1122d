#!/usr/bin/env python3
"""Text work for scripts/bench-leases.sh: the grant script's Lua source, the tenants file, and the report.

Subcommands:
  lua SWIFT_FILE NAME OUT           write the Lua source of `static let NAME = RedisScript(source: ...)` to OUT
                                    and print its SHA-1, the name Redis gives the script
  tenants DIR POOL_SIZE LEASE_S     rewrite DIR/tenants.json (from `ringtrail replay --prepare`) with a pool of
                                    POOL_SIZE numbers leased for LEASE_S seconds; print the numbers to DIR/numbers
  wrk FILE                          print the `bench-json` line of a wrk run as JSON
  redis-csv FILE                    print the rps, p50 and p99 of a `redis-benchmark --csv` run as JSON
  report DIR OUT                    read DIR/results.jsonl, print the table and write the report to OUT
"""

import csv
import datetime
import hashlib
import json
import os
import re
import sys


def fail(message):
    print(f"bench-leases: {message}", file=sys.stderr)
    sys.exit(1)


def swift_script_source(swift_text, name):
    """Returns the text of the multi-line string literal in `static let NAME = RedisScript(source: \"\"\" ... \"\"\")`.

    Swift removes the closing delimiter's indentation from every line and drops the newline before the delimiter.
    Escape sequences are not interpreted, so a literal containing a backslash is rejected.
    """
    pattern = re.compile(
        r"static let " + re.escape(name) + r' = RedisScript\(source: """\n(.*?)\n([ \t]*)"""', re.DOTALL
    )
    match = pattern.search(swift_text)
    if match is None:
        fail(f"no `static let {name} = RedisScript(source: \"\"\"` literal found")
    body, indent = match.group(1), match.group(2)
    if "\\" in body:
        fail(f"the {name} script contains a backslash; Swift escapes would have to be decoded")
    lines = []
    for line in body.split("\n"):
        if line.strip() == "":
            lines.append(line[len(indent):] if line.startswith(indent) else "")
        elif line.startswith(indent):
            lines.append(line[len(indent):])
        else:
            fail(f"a line of the {name} script is indented less than its closing delimiter: {line!r}")
    return "\n".join(lines)


def command_lua(swift_file, name, out):
    with open(swift_file, encoding="utf-8") as handle:
        source = swift_script_source(handle.read(), name)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(source)
    print(hashlib.sha1(source.encode("utf-8")).hexdigest())


def command_tenants(directory, pool_size, lease_seconds):
    path = os.path.join(directory, "tenants.json")
    with open(path, encoding="utf-8") as handle:
        tenants = json.load(handle)
    pool = tenants["advertisers"][0]["pools"][0]
    # Valid E.164 numbers from +15550000000 up. Below 5,550,000 numbers they stay clear of the replay's fallback and
    # forwarding numbers (+155555501xx).
    numbers = [f"+1555{index:07d}" for index in range(int(pool_size))]
    pool["numbers"] = numbers
    pool["leaseSeconds"] = float(lease_seconds)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(tenants, handle, indent=2)
    with open(os.path.join(directory, "numbers"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(numbers) + "\n")


def command_wrk(path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("bench-json "):
                print(line[len("bench-json "):].strip())
                return
    fail(f"{path} has no bench-json line; did wrk run scripts/bench/lease.lua?")


def command_redis_csv(path):
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 2:
        fail(f"{path} has no result row")
    header, values = rows[0], rows[-1]
    row = dict(zip(header, values))
    if "rps" not in row:
        fail(f"{path}: unexpected redis-benchmark CSV header {header}")

    def number(field):
        return float(row[field]) if field in row else None

    print(json.dumps({"rps": number("rps"), "p50Ms": number("p50_latency_ms"), "p99Ms": number("p99_latency_ms")}))


def rounded(value, digits):
    return None if value is None else round(value, digits)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpuModel": model}


def level_entry(record):
    service, redis = record["service"], record["redis"]
    ratio = service["rps"] / redis["rps"] if redis["rps"] else None
    return {
        "connections": record["connections"],
        "serviceRps": rounded(service["rps"], 1),
        "redisRps": rounded(redis["rps"], 1),
        "ratio": rounded(ratio, 3),
        "p50Ms": rounded(service["p50Us"] / 1000, 3),
        "p99Ms": rounded(service["p99Us"] / 1000, 3),
        "redisP50Ms": redis["p50Ms"],
        "redisP99Ms": redis["p99Ms"],
        "errors": service["statusErrors"] + service["connectErrors"] + service["readErrors"]
        + service["writeErrors"] + service["timeouts"],
        "statuses": record.get("statuses", {}),
        "redisStatuses": record.get("redisStatuses", {}),
        "cpu": record["cpu"],
        "redisCpu": record["redisCpu"],
    }


def format_table(levels, half):
    lines = [
        "connections  service rps  p50 ms  p99 ms  redis rps  redis p50  redis p99  service/redis  errors",
    ]
    for level in levels:
        lines.append(
            f"{level['connections']:>11}  {level['serviceRps']:>11.0f}  {level['p50Ms']:>6.2f}  {level['p99Ms']:>6.2f}"
            f"  {level['redisRps']:>9.0f}  {level['redisP50Ms'] or 0:>9.3f}  {level['redisP99Ms'] or 0:>9.3f}"
            f"  {level['ratio']:>13.3f}  {level['errors']:>6}"
        )
    lines.append("")
    lines.append("CPU ms per request during wrk (number-pool, Redis, broker, wrk) and during redis-benchmark (Redis,")
    lines.append("redis-benchmark), and the share of all CPU time used by processes outside the benchmark meanwhile")
    for level in levels:
        cpu, redis_cpu = level["cpu"], level["redisCpu"]
        lines.append(
            f"{level['connections']:>11}  service: {cpu['numberPool']} + {cpu['redis']} + {cpu['broker']}"
            f" + {cpu['clients']}, others {cpu['otherProcessesShare']:.0%}"
            f"  |  redis-benchmark: {redis_cpu['redis']} + {redis_cpu['clients']},"
            f" others {redis_cpu['otherProcessesShare']:.0%}"
        )
    if half is not None:
        lines.append("")
        lines.append(
            f"half peak: {half['connections']} connections, {half['serviceRps']:.0f} rps, p50 {half['p50Ms']:.2f} ms,"
            f" p99 {half['p99Ms']:.2f} ms; processes outside the benchmark used"
            f" {half['cpu']['otherProcessesShare']:.0%} of all CPU time"
        )
    return "\n".join(lines)


def command_report(directory, out):
    records = []
    with open(os.path.join(directory, "results.jsonl"), encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                records.append(json.loads(line))
    with open(os.path.join(directory, "run.json"), encoding="utf-8") as handle:
        run = json.load(handle)

    levels = [level_entry(record) for record in records if record["kind"] == "level"]
    if not levels:
        fail("no concurrency level was measured")
    best = max(levels, key=lambda level: level["serviceRps"])
    redis_peak = max(level["redisRps"] for level in levels)
    half_record = next((record for record in records if record["kind"] == "half-peak"), None)
    half = None
    if half_record is not None:
        service = half_record["service"]
        half = {
            "connections": half_record["connections"],
            "serviceRps": rounded(service["rps"], 1),
            "shareOfPeak": rounded(service["rps"] / best["serviceRps"], 3),
            "p50Ms": rounded(service["p50Us"] / 1000, 3),
            "p99Ms": rounded(service["p99Us"] / 1000, 3),
            "cpu": half_record["cpu"],
            "probes": half_record["probes"],
            "method": "wrk has no rate limit, so the connection count whose rps in a short probe was closest to "
            "half the peak was run again for the full duration",
        }

    report = {
        "serviceRps": best["serviceRps"],
        "redisRps": best["redisRps"],
        "ratio": best["ratio"],
        "p50Ms": best["p50Ms"],
        "p99MsAtHalfPeak": half["p99Ms"] if half else None,
        "peakRssMB": rounded(run["vmHwmKiB"] / 1024, 1),
        "rssAnonMBAtEnd": rounded(run["rssAnonKiB"] / 1024, 1),
        "rssFileMBAtEnd": rounded(run["rssFileKiB"] / 1024, 1),
        "best": best,
        "levels": levels,
        "halfPeak": half,
        "redisPeakRps": redis_peak,
        "ratioToRedisPeak": rounded(best["serviceRps"] / redis_peak, 3),
        "settings": run["settings"],
        "machine": machine() | {"loadAverageAtStart": run["loadAverageAtStart"],
                                "loadAverageAtEnd": run["loadAverageAtEnd"]},
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
        handle.write("\n")

    print(format_table(levels, half))
    print(
        f"best: {best['serviceRps']:.0f} rps at {best['connections']} connections, "
        f"{best['ratio']:.3f} of redis-benchmark's {best['redisRps']:.0f} rps; p50 {best['p50Ms']:.2f} ms"
    )
    print(f"best service rps / best redis-benchmark rps at any connection count: {report['ratioToRedisPeak']:.3f}")
    print(
        f"peak RSS of number-pool (VmHWM): {report['peakRssMB']} MB; at the end {report['rssAnonMBAtEnd']} MB"
        f" anonymous and {report['rssFileMBAtEnd']} MB mapped files"
    )
    for level in levels:
        if level["errors"]:
            print(f"warning: {level['errors']} failed requests at {level['connections']} connections", file=sys.stderr)
    print(f"report written to {out}")


def main(arguments):
    commands = {
        "lua": (command_lua, 3),
        "tenants": (command_tenants, 3),
        "wrk": (command_wrk, 1),
        "redis-csv": (command_redis_csv, 1),
        "report": (command_report, 2),
    }
    if not arguments or arguments[0] not in commands or len(arguments) - 1 != commands[arguments[0]][1]:
        fail("usage:\n" + __doc__.split("Subcommands:\n", 1)[1])
    function, _ = commands[arguments[0]]
    function(*arguments[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
