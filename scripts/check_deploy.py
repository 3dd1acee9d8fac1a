"""Checks what the schemas cannot: the Indexed Job of deploy/k8s runs `hvtriage batch` with
--shard $(JOB_COMPLETION_INDEX)/N where N is its number of completions, and the index Job merges
the folder the shares write into. Usage: python3 scripts/check_deploy.py"""
import pathlib
import sys

import yaml  # PyYAML, installed with kubernetes-validate

root = pathlib.Path(__file__).resolve().parent.parent
docs = list(yaml.safe_load_all((root / "deploy/k8s/hvtriage-batch.yaml").read_text()))
jobs = {d["metadata"]["name"]: d for d in docs}
batch, index = jobs["hvtriage-batch"], jobs["hvtriage-index"]
spec = batch["spec"]
args = spec["template"]["spec"]["containers"][0]["args"]
problems = []
if spec.get("completionMode") != "Indexed":
    problems.append("hvtriage-batch is not an Indexed Job")
shard = args[args.index("--shard") + 1] if "--shard" in args else ""
if shard != f"$(JOB_COMPLETION_INDEX)/{spec['completions']}":
    problems.append(f"--shard {shard!r} does not match completions {spec['completions']}")
out = args[args.index("--output") + 1] if "--output" in args else None
index_args = index["spec"]["template"]["spec"]["containers"][0]["args"]
if args[0] != "batch" or index_args[:1] != ["index"] or out not in index_args:
    problems.append(f"the index Job does not merge {out!r}: {index_args}")
for p in problems:
    print(f"deploy/k8s/hvtriage-batch.yaml: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
