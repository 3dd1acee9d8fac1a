#!/usr/bin/env python3
"""Writes a generated cluster.log of 3,000,000 entries (about 368 MB) for the cluster.log speed
figure in docs/PERFORMANCE.md: a quarter of its entries are in components the catalogue reads.

Usage: python3 scripts/bench_clusterlog.py target/bench-clusterlog
       /usr/bin/time -f "%e s %M KB" ./target/release/hvtriage target/bench-clusterlog -o /tmp/r.html
"""
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "target/bench-clusterlog"
os.makedirs(os.path.join(out, "HV01"), exist_ok=True)
entries = [("INFO", "NM", "Received request from client address HV02."),
           ("INFO", "RHS", "Resource Virtual Machine Configuration VM3 called SetResourceLockedMode. LockedModeEnabled0, LockedModeReason0."),
           ("DBG", "GUM", "Node 1: Processing RequestLock 2:112"),
           ("INFO", "RES", "Virtual Machine <Virtual Machine VM3>: Current state 'Online', event 'none'")]
with open(os.path.join(out, "HV01", "cluster.log"), "w", newline="") as f:
    f.write("[===Cluster ===]\r\nThe logs were generated using Coordinated Universal Time (UTC).\r\n\r\n")
    for i in range(3_000_000):
        level, component, text = entries[i % 4]
        h, m, s = i // 125000, (i // 2083) % 60, (i // 35) % 60
        f.write(f"00000d4c.00001b2c::2026/11/20-{h:02d}:{m:02d}:{s:02d}.{i % 1000:03d} {level:<5} [{component}] {text}\r\n")
print(f"written: {out}/HV01/cluster.log")
