#!/usr/bin/env bash
# Peak memory on the worst input shapes (docs/PERFORMANCE.md, "Memory on hostile inputs"):
# an Event XML flood (one event of 25 million empty elements, 100 MB), a 50 MB <Computer>,
# Event XML and EVTX of nothing but wanted events (NETLOGON 5719), each analyzed once with
# /usr/bin/time. The budget is 500 MiB whatever the input.
# Usage: bash scripts/bench_memory.sh [WANTED_EVENTS (default 400000)]
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-400000}
cargo build --quiet --release --bin hvtriage
bin=$PWD/target/release/hvtriage
work=$(mktemp -d -p target bench-memory.XXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$events" <<'PY'
import sys, zipfile
work, events = sys.argv[1], int(sys.argv[2])
ns = "http://schemas.microsoft.com/win/2004/08/events/event"
with open(f"{work}/flood.xml", "w") as f:
    f.write(f'<Event xmlns="{ns}"><System>')
    for _ in range(250):
        f.write("<x/>" * 100000)
    f.write("</System></Event>\n")
with zipfile.ZipFile(f"{work}/flood.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
    z.write(f"{work}/flood.xml", "case/HV01/System.xml")
with open(f"{work}/computer.xml", "w") as f:
    f.write(f'<Event xmlns="{ns}"><System><Provider Name="NETLOGON"/><EventID>5719</EventID>'
            '<TimeCreated SystemTime="2026-11-20T00:00:00Z"/><EventRecordID>1</EventRecordID>'
            f'<Channel>System</Channel><Computer>{"H" * (50 << 20)}</Computer></System></Event>\n')
ev = (f'<Event xmlns="{ns}"><System><Provider Name="NETLOGON"/><EventID>5719</EventID>'
      '<TimeCreated SystemTime="2026-11-20T00:00:00Z"/><EventRecordID>{}</EventRecordID>'
      '<Channel>System</Channel><Computer>HV01</Computer></System><EventData><Data>CONTOSO</Data>'
      '<Data>%%1311</Data><Binary>5E0000C0</Binary></EventData></Event>\n')
with open(f"{work}/wanted.xml", "w") as f:
    for i in range(events):
        f.write(ev.format(i + 1))
PY
"$bin" fixture "$work/wanted.xml" -o "$work/wanted.evtx"
printf '| input | size | wall s | peak RSS MiB |\n|---|---|---|---|\n'
for shape in flood.xml flood.zip computer.xml wanted.xml wanted.evtx; do
  size=$(du -h "$work/$shape" | cut -f1)
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" analyze "$work/$shape" -o "$work/$shape.html" >/dev/null 2>&1 || true
  read -r wall kb < <(tail -1 "$work/time")
  printf '| %s | %s | %s | %s |\n' "$shape" "$size" "$wall" "$((kb / 1024))"
done
