#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Summarise the runs of scripts/bench-guest.sh (bench.tsv): per kind,
# configuration and flow count the median, min and max of the valid runs,
# and the ratios ours/intree (hw-ours/hw-intree) and ours/classic of the
# medians. Prints a table and writes the same as JSON.
#
#   bench-report.py --kernel REL --timing TEXT [--modules FILE] [--vm-rc N]
#                   [--json OUT] bench.tsv

import argparse
import csv
import json
import statistics
import sys

KINDS = [
    ("udp", "UDP 64-byte forwarding, received packets/s at the server"),
    ("tcp", "TCP bulk (iperf3, client -> server), Mbit/s"),
    ("hwrate", "hardware install rate after a burst of new flows, flows/s"),
    ("hwlat50", "flow_offload_add to both rules in the sim, median over the burst, ms"),
    ("hwlat99", "flow_offload_add to both rules in the sim, 99th percentile, ms"),
    ("hwqueue", "most flows added and not yet in hardware at once, flows"),
    ("mem", "slab growth per established flow, bytes"),
    ("gc", "busy CPU over 10 s with that many established flows idle, ms"),
    ("scale", "flows inserted into the flowtable per second, reply burst to all in (ours only)"),
    ("expire", "seconds until every scale flow has left flowtable and conntrack (ours only)"),
    ("stats", "hardware STATS calls per flow and second, steady state"),
]
ORDER = ["classic", "fwd", "intree", "ours", "hw-intree", "hw-ours"]


def num(v):
    try:
        return float(v)
    except ValueError:
        return 0.0


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) < 1:
        return "%.3f" % v
    return "%.1f" % v


def share_vs_classic(results, med, kind, field, label):
    """Store median minus classic's median as FIELD and print it."""
    for e in results:
        if e["kind"] != kind or e["config"] == "classic":
            continue
        base = med.get((kind, "classic", e["flows"]))
        if base is not None and e["median"] is not None:
            e[field] = e["median"] - base
    share = ["%s %+.0f" % (e["config"], e[field]) for e in results if field in e]
    if share:
        print("  %s: %s" % (label, ", ".join(share)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("tsv")
    p.add_argument("--kernel", required=True)
    p.add_argument("--timing", required=True)
    p.add_argument("--modules", default="")
    p.add_argument("--vm-rc", default="0")
    p.add_argument("--json", default="")
    a = p.parse_args()

    runs = []
    with open(a.tsv) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if not row.get("kind"):
                continue
            row["value"] = num(row["value"])
            row["flows"] = int(num(row["flows"]))
            runs.append(row)

    groups = {}
    for r in runs:
        key = (r["kind"], r["config"], r["flows"])
        groups.setdefault(key, []).append(r)

    results = []
    med = {}
    for (kind, cfg, flows), rs in groups.items():
        vals = [r["value"] for r in rs if r["valid"] == "valid"]
        e = {
            "kind": kind,
            "config": cfg,
            "flows": flows,
            "unit": rs[0]["unit"],
            "runs": len(rs),
            "valid": len(vals),
            "invalid": len(rs) - len(vals),
            "median": statistics.median(vals) if vals else None,
            "min": min(vals) if vals else None,
            "max": max(vals) if vals else None,
            "values": [r["value"] if r["valid"] == "valid" else "invalid" for r in rs],
            "invalid_reasons": [r["detail"] for r in rs if r["valid"] != "valid"],
        }
        med[(kind, cfg, flows)] = e["median"]
        results.append(e)

    def ratio(kind, num_cfg, den_cfg, flows):
        n = med.get((kind, num_cfg, flows))
        d = med.get((kind, den_cfg, flows))
        if n is None or d is None or d == 0:
            return None
        return n / d

    for e in results:
        k, c, fl = e["kind"], e["config"], e["flows"]
        e["ratio_ours_intree"] = None
        e["ratio_ours_classic"] = None
        if c == "ours":
            e["ratio_ours_intree"] = ratio(k, "ours", "intree", fl)
            e["ratio_ours_classic"] = ratio(k, "ours", "classic", fl)
        elif c == "hw-ours":
            e["ratio_ours_intree"] = ratio(k, "hw-ours", "hw-intree", fl)
            e["ratio_ours_classic"] = ratio(k, "hw-ours", "classic", fl)
        elif c == "intree":
            e["ratio_intree_classic"] = ratio(k, "intree", "classic", fl)
        elif c == "hw-intree":
            e["ratio_intree_classic"] = ratio(k, "hw-intree", "classic", fl)

    results.sort(key=lambda e: ([x[0] for x in KINDS].index(e["kind"])
                                if e["kind"] in [x[0] for x in KINDS] else 99,
                                e["flows"],
                                ORDER.index(e["config"]) if e["config"] in ORDER else 99))

    modules = ""
    if a.modules:
        try:
            modules = open(a.modules).read().strip()
        except OSError:
            pass

    print("kernel %s; timing: %s" % (a.kernel, a.timing))
    if modules:
        for line in modules.splitlines():
            print("  " + line)
    for kind, title in KINDS:
        rows = [e for e in results if e["kind"] == kind]
        if not rows:
            continue
        print()
        print(title)
        print("%-10s %7s %7s %10s %10s %10s %12s %13s" % (
            "config", "flows", "valid", "median", "min", "max",
            "ours/intree", "ours/classic"))
        for e in rows:
            print("%-10s %7d %3d/%-3d %10s %10s %10s %12s %13s" % (
                e["config"], e["flows"], e["valid"], e["runs"],
                fmt(e["median"]) if e["valid"] else "invalid",
                fmt(e["min"]), fmt(e["max"]),
                ("%.3f" % e["ratio_ours_intree"]) if e["ratio_ours_intree"] is not None else "",
                ("%.3f" % e["ratio_ours_classic"]) if e["ratio_ours_classic"] is not None else ""))
        for e in rows:
            for why in e["invalid_reasons"]:
                print("  invalid %s flows=%d: %s" % (e["config"], e["flows"], why))
    share_vs_classic(results, med, "mem", "flowtable_bytes_per_flow",
                     "flowtable share (slab growth minus classic's conntrack + NAT), B/flow")
    share_vs_classic(results, med, "gc", "flowtable_gc_ms",
                     "flowtable GC share (busy CPU minus classic's), ms per 10 s")

    doc = {
        "kernel": a.kernel,
        "timing": a.timing,
        "vm_exit_code": int(num(a.vm_rc)),
        "modules": modules.splitlines(),
        "results": results,
        "runs": runs,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
