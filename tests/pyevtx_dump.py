#!/usr/bin/env python3
"""Prints every record of an EVTX file as rendered by python-evtx, one JSON object per line:
{"id": <record id>, "xml": "<Event ...>"} or {"id": ..., "error": "..."} when python-evtx
cannot render a record (the Rust test reports it; it is not skipped).

Used by tests/roundtrip.rs as an independent second reader of what evtxw writes.
Exit status 3 means python-evtx is not installed: pip install python-evtx
"""
import json
import sys

try:
    from Evtx.Evtx import Evtx
except ImportError:
    sys.stderr.write("python-evtx is not installed: pip install python-evtx\n")
    sys.exit(3)


def main(path):
    with Evtx(path) as log:
        for chunk in log.chunks():
            for record in chunk.records():
                try:
                    line = {"id": record.record_num(), "xml": record.xml()}
                except Exception as error:  # reported, never hidden: the test fails on it
                    line = {"id": record.record_num(), "error": repr(error)}
                sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: pyevtx_dump.py FILE.evtx\n")
        sys.exit(2)
    main(sys.argv[1])
