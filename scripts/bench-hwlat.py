#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Hardware offload latency and queue depth of one burst of new flows, from
#   TRACE  the ftrace buffer with kprobe events "add" on flow_offload_add
#          (flow=0x...; trace_clock mono), and
#   LOG    kno_simnic's replace_log (ktime_get_ns() and cookie of every new
#          rule; the header gives the cookie offsets of the two tuples).
# A flow is done when the sim installed the rules of both directions.
#
#   bench-hwlat.py TRACE LOG [SERIES]
#
# Prints "p50_ms p99_ms max_ms max_depth paired adds" (depth: flows added
# and not yet done). SERIES, if given, gets "ms_since_first_add depth"
# at every change of the depth.

import re
import sys

ADD = re.compile(r"\s(\d+)\.(\d+): add: .* flow=0x([0-9a-f]+)")


def pct(sorted_vals, p):
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, int(round(p / 100.0 * (len(sorted_vals) - 1))))
    return sorted_vals[i]


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    adds = {}
    with open(sys.argv[1]) as f:
        for line in f:
            m = ADD.search(line)
            if not m:
                continue
            t_ns = int(m.group(1)) * 10**9 + int(m.group(2).ljust(9, "0")[:9])
            adds.setdefault(int(m.group(3), 16), t_ns)
    rep = {}
    offs = None
    with open(sys.argv[2]) as f:
        head = f.readline()
        m = re.search(r"cookie_off=(\d+),(\d+)", head)
        if m:
            offs = (int(m.group(1)), int(m.group(2)))
        for line in f:
            ns, cookie = line.split()
            rep.setdefault(int(cookie, 16), int(ns))
    if offs is None:
        print("0 0 0 0 0 %d" % len(adds))
        return 1

    lat = []
    events = []
    for flow, t_add in adds.items():
        a = rep.get(flow + offs[0])
        b = rep.get(flow + offs[1])
        events.append((t_add, 1))
        if a is None or b is None:
            continue
        done = max(a, b)
        lat.append((done - t_add) / 1e6)
        events.append((done, -1))
    lat.sort()
    events.sort()
    depth = maxdepth = 0
    series = []
    t0 = events[0][0] if events else 0
    for t, d in events:
        depth += d
        maxdepth = max(maxdepth, depth)
        series.append(((t - t0) / 1e6, depth))
    if len(sys.argv) > 3:
        with open(sys.argv[3], "w") as f:
            for t, d in series:
                f.write("%.3f %d\n" % (t, d))
    print("%.3f %.3f %.3f %d %d %d" % (pct(lat, 50), pct(lat, 99),
                                       lat[-1] if lat else 0.0, maxdepth,
                                       len(lat), len(adds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
