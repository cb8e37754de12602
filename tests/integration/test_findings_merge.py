#!/usr/bin/env python3
"""The findings' tables (tests/bench/findings.py) from a study spread over two studies, as when
a machine ends before the study does: the cells of a saved study and of a second one merged
seed by seed (statistics, paired differences and gains recomputed; a seed taken from the first
source that has it), the sources named, and a merge of studies with different seeds refused.
Prints "ok - ..." / "not ok - ..." lines for tests/run_tests.sh."""
import json
import os
import subprocess
import sys
import tempfile

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench")
sys.path.insert(0, BENCH)
import findings  # noqa: E402


def report(name, ok, detail=""):
    print(f"{'ok' if ok else 'not ok'} - {name}{': ' + detail if detail else ''}")


def row(variant, top1, wall=None):
    return {"values": {"pretrain": variant}, "top1": top1, "top1_mean": None, "top1_sd": None,
            "gain_mean": None, "gain_se": None, "pretrain_wall_s": wall}


def study(sid, rows, baseline, seeds=(0, 1)):
    return {"id": sid, "name": "findings", "state": "paused", "seeds": list(seeds), "created_at": 1.8e9,
            "cells_done": 0, "cells_total": len(rows), "rows": rows,
            "baseline_row": {"values": {}, "top1": baseline}}


# study 1 (saved): the default cell and the baseline whole, ratio 0.1 on seed 0 only;
# study 2: ratio 0.1 on both seeds (seed 0 differs: the first source's stays), full scope.
first = study(1, [row({}, [80.0, 82.0], 100.0), row({"mask": {"ratio": 0.1}}, [79.0, None], 90.0)],
              [70.0, 71.0])
second = study(2, [row({"mask": {"ratio": 0.1}}, [50.0, 80.5], 110.0),
                   row({"loss": {"scope": "full"}}, [83.0, 84.5], 100.0)], [None, None])
merged = findings.merge([first, second])
by = {json.dumps(r["values"], sort_keys=True): r for r in merged["rows"]}
ratio = by[json.dumps({"pretrain": {"mask": {"ratio": 0.1}}}, sort_keys=True)]
report("a seed's top-1 comes from the first source that has it", ratio["top1"] == [79.0, 80.5],
       str(ratio["top1"]))
report("the mean and sd are recomputed", abs(ratio["top1_mean"] - 79.75) < 1e-9 and
       abs(ratio["top1_sd"] - 1.0606601717798212) < 1e-9, f"{ratio['top1_mean']} ± {ratio['top1_sd']}")
report("the gain over the baseline is paired by seed", abs(ratio["gain_mean"] - 9.25) < 1e-9 and
       abs(ratio["gain_se"] - 0.25) < 1e-9, f"{ratio['gain_mean']} ± {ratio['gain_se']}")
report("the pretraining's cost is the mean over the seeds that finished", abs(ratio["pretrain_wall_s"] - 100.0) < 1e-9,
       str(ratio["pretrain_wall_s"]))
report("cells done: those with every seed", merged["cells_done"] == 3 and merged["cells_total"] == 3,
       f"{merged['cells_done']} of {merged['cells_total']}")
text = findings.render(merged)
scope = next((line for line in text.splitlines() if line.startswith("| full ")), "")
# full − default: +3.0 and +2.5 → +2.75 ± 0.25, above 2 se: better; the paper's −1.1 says worse
report("the table pairs a variant of one study with the default cell of another",
       "+2.75 ± 0.25" in scope and "better" in scope and "**disagrees**" in scope, scope)
report("the sources are named", "Merged from: study 1" in text and "study 2" in text,
       next((l for l in text.splitlines() if l.startswith("Merged")), ""))

with tempfile.TemporaryDirectory() as tmp:
    saved = os.path.join(tmp, "one.json")
    with open(saved, "w") as f:
        json.dump(study(1, first["rows"], [70.0, 71.0], seeds=(0, 1)), f)
    other = os.path.join(tmp, "two.json")
    with open(other, "w") as f:
        json.dump(study(2, second["rows"], [None, None, None], seeds=(0, 1, 2)), f)
    run = subprocess.run([sys.executable, os.path.join(BENCH, "findings.py"), "--saved", saved, "--saved", other,
                          "--out", os.path.join(tmp, "out")], capture_output=True, text=True)
    report("studies of different seeds are not merged", run.returncode != 0 and "seeds" in run.stderr,
           run.stderr.strip())
    run = subprocess.run([sys.executable, os.path.join(BENCH, "findings.py"), "--saved", saved,
                          "--out", os.path.join(tmp, "out")], capture_output=True, text=True)
    with open(os.path.join(tmp, "out.json")) as f:
        again = json.load(f)
    report("a saved study renders alone, and its output can be saved again",
           run.returncode == 0 and again["rows"][0]["top1"] == [80.0, 82.0], run.stderr.strip())

# The live study supersedes an earlier rendering of itself (the same id and creation time),
# not a rendering of another study nor one that does not say when its study was created.
live = study(2, second["rows"], [None, None])
earlier = findings.merge([study(2, second["rows"][:1], [None, None])])
report("an earlier rendering of the live study is its snapshot", findings.snapshot_of(earlier, live))
report("a rendering of another study, or without creation times, is not",
       not findings.snapshot_of(findings.merge([first]), live) and
       not findings.snapshot_of(dict(earlier, sources=[dict(earlier["sources"][0], created_at=None)]), live) and
       not findings.snapshot_of(findings.merge([first, live]), live))

# What is left to run: the cells short of a seed (all their seeds), the baseline if short.
first["pretrain"], first["finetune"] = {"train": {"epochs": 5}}, {"finetune": {"labels_per_class": 600}}
second["rows"].append(row({"decoder": {"type": "mlp"}}, [81.0, None]))
body = findings.next_study(findings.merge([first, second]))
report("the next study runs the cells short of a seed, with the study's specs and seeds",
       body["axes"] == [{"field": "pretrain", "values": [{"decoder": {"type": "mlp"}}]}] and
       body["seeds"] == [0, 1] and body["pretrain"] == {"train": {"epochs": 5}} and
       body["finetune"] == {"finetune": {"labels_per_class": 600}} and body["baseline"] is False, json.dumps(body))
short = findings.merge([study(1, [row({}, [80.0, 82.0])], [70.0, None])])
short["pretrain"] = short["finetune"] = {}
body = findings.next_study(short)
report("a baseline short of a seed runs again (with the default cell, a study needing a cell)",
       body["baseline"] is True and body["axes"][0]["values"] == [{}], json.dumps(body))
report("nothing left: no next study",
       findings.next_study(dict(short, baseline_row={"top1": [70.0, 71.0]})) is None)
