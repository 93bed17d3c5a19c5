"""Pairs BM_<op>_vkgrad with BM_<op>_eigen from Google Benchmark JSON and prints time ratios.

    python3 bench/compare.py core.json
ratio = vkgrad time / Eigen time (1.00 = no overhead). GFLOP/s where the benchmark counts them.
"""
import json
import re
import sys

runs = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    m = re.match(r"BM_(\w+)_(vkgrad|eigen)(/\d+)?", b["name"])
    if m:
        runs.setdefault((m.group(1), (m.group(3) or "").lstrip("/")), {})[m.group(2)] = b

print(f"{'benchmark':<14}{'size':>9}{'vkgrad':>16}{'Eigen':>16}{'ratio':>8}{'GFLOP/s vk':>12}{'GFLOP/s Eig':>12}")
for (name, size), r in runs.items():
    if "vkgrad" not in r or "eigen" not in r:
        continue
    v, e = r["vkgrad"], r["eigen"]
    unit = v["time_unit"]
    gv = f"{v['GFLOP/s']:.2f}" if "GFLOP/s" in v else "-"
    ge = f"{e['GFLOP/s']:.2f}" if "GFLOP/s" in e else "-"
    print(f"{name:<14}{size:>9}{v['real_time']:>14.1f}{unit:>2}{e['real_time']:>14.1f}{unit:>2}"
          f"{v['real_time'] / e['real_time']:>8.2f}{gv:>12}{ge:>12}")
