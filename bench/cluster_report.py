"""Tables (markdown) from bench/cluster.sh's results: per setup, the direct
rates (cross-node delivery p50/p99, lost), the highest clean rate (p99 under
50 ms, nothing lost), fan-out deliveries per second; then the redis-benchmark
and pgbench lines."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
setups = []
for r in rows:
    if "setup" in r and r["setup"] not in setups:
        setups.append(r["setup"])


def clean(r):
    return r.get("lost", 0) == 0 and r["delivery"]["p99_ms"] < 50


print("| setup | highest clean direct rate (msg/s) | fan-out peak deliveries/s | fan-out p99 to last member at 100 msg/s (ms) |")
print("|---|---|---|---|")
for s in setups:
    direct = [r for r in rows if r.get("setup") == s and r["scenario"] == "direct"]
    fan = [r for r in rows if r.get("setup") == s and r["scenario"] == "fanout"]
    best = max((r["target_rate"] for r in direct if clean(r)), default=0)
    peak = max((r["deliveries_per_second"] for r in fan), default=0)
    at100 = next((r["time_to_last"]["p99_ms"] for r in fan if r["target_rate"] == 100), None)
    print(f"| {s} | {best:.0f} | {peak:.0f} | {at100 if at100 is not None else '–'} |")
print()
print("| rate (msg/s) | setup | delivered/s | lost | delivery p50 / p99 (ms) |")
print("|---|---|---|---|---|")
def by_rate(scenario):
    """The scenario's rows, by rate, then setup."""
    for rate in sorted({r["target_rate"] for r in rows if r.get("scenario") == scenario}):
        for s in setups:
            for r in rows:
                if r.get("setup") == s and r["scenario"] == scenario and r["target_rate"] == rate:
                    yield rate, s, r


for rate, s, r in by_rate("direct"):
    d = r["delivery"]
    print(f"| {rate:.0f} | {s} | {r['achieved_rate']:.0f} | {r['lost']} | {d['p50_ms']} / {d['p99_ms']} |")
print()
print("| messages/s | setup | deliveries/s | lost deliveries | time to last member p50 / p99 (ms) |")
print("|---|---|---|---|---|")
for rate, s, r in by_rate("fanout"):
    t = r["time_to_last"]
    print(f"| {rate:.0f} | {s} | {r['deliveries_per_second']:.0f} | {r['lost_deliveries']} | {t['p50_ms']} / {t['p99_ms']} |")
print()
for r in rows:
    if r["scenario"] == "redis-benchmark":
        print(f"redis-benchmark -c 50 -n 200000 (PUBLISH, one client thread on CPU 1): {r['result']}")
    if r["scenario"] == "pgbench":
        print(f"\npgbench -N, 4 clients, 10 s: {r['tps']:.0f} tps")
