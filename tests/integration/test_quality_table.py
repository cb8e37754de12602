#!/usr/bin/env python3
"""The quality benchmark's verdicts (tests/bench/quality.py) on made-up results: a seed mean
inside or outside the tolerance, the gain per seed and its mean (with the seeds' standard
deviation and the mean's standard error) against the ≥ 3.0 floor,
fine-tuning-seed runs listed but kept out of targets and gains, the worst epoch of a loss
curve, PyTorch's pretraining curves beside docs/recipes.md's, the PyTorch fine-tuning table grouped
by start with means, finding the pretraining a recorded run started from, and the bf16 twins
of the recipes. Prints
"ok - ..." / "not ok - ..." lines for tests/run_tests.sh."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import quality  # noqa: E402


def report(name, ok, detail=""):
    print(f"{'ok' if ok else 'not ok'} - {name}{': ' + detail if detail else ''}")


def run(recipe, seed, top1, job_ids, finetune_seed=None, losses=None, by_epoch=None):
    return {"recipe": recipe, "seed": seed, "finetune_seed": seed if finetune_seed is None else finetune_seed,
            "top1": top1, "top1_by_epoch": by_epoch or [top1], "pretrain_loss_by_epoch": losses,
            "job_ids": job_ids, "wall_s": 1.0, "img_per_s": 1.0, "date": "2026-01-01", "machine": "test"}


def line_with(text, *parts):
    """The first table line that has every part, or ''."""
    return next((line for line in text.splitlines() if all(p in line for p in parts)), "")


P5 = [0.544, 0.398, 0.365, 0.325, 0.297]  # docs/recipes.md's p5 curve
CURVE = [20.0 + e for e in range(20)]  # top-1 after epochs 1..20
results = [
    run("scratch-ft20-6k-nold", 0, 68.0, [10]),
    run("scratch-ft20-6k-nold", 1, 66.0, [11]),
    # gains +2.9 and +4.0; loss curves 2% over at epoch 2, 6% over at epoch 4
    run("simmim-p5-ft20-6k", 0, 70.9, [1, 2], losses=[x * (1.02 if e == 2 else 1) for e, x in enumerate(P5, 1)],
        by_epoch=CURVE),
    run("simmim-p5-ft20-6k", 1, 70.0, [3, 4], losses=[x * (1.06 if e == 4 else 1) for e, x in enumerate(P5, 1)]),
    # Fine-tuned again from job 1 with another seed: far off, so counting it would show.
    run("simmim-p5-ft20-6k", 0, 50.0, [1, 5], finetune_seed=7, by_epoch=[x + 1 for x in CURVE]),
    run("scratch-ft10", 0, 81.0, [20]),  # 2.2 under 83.20 ± 0.8
]
table = quality.targets_table(results, [])

report("a seed mean within the tolerance is met, with the seeds' standard deviation",
       line_with(table, "| scratch-ft20-6k-nold | 0, 1 |", "| 67.00 (sd 1.41) |").endswith("| yes |"))
report("a seed mean outside the tolerance is not",
       line_with(table, "| scratch-ft10 | 0 |").endswith("| **no** |"))
report("the gain is taken per seed against the floor",
       line_with(table, "− scratch-ft20-6k-nold | 0 |", "+2.90").endswith("≥ 3.0: **no** |")
       and line_with(table, "− scratch-ft20-6k-nold | 1 |", "+4.00").endswith("≥ 3.0: yes |"))
report("and as the mean over the seeds, with its spread and standard error",
       line_with(table, "− scratch-ft20-6k-nold | mean of 2 (sd 0.78, s.e. 0.55) |", "+3.45").endswith("yes |"))
report("a fine-tuning-seed run is kept out of the targets and gains",
       "50.00" not in table and line_with(table, "| simmim-p5-ft20-6k | 0, 1 |", "70.90 / 70.00"))
report("a loss curve's worst epoch and the 5% verdict, per seed and for the mean curve",
       line_with(table, "| p5 | simmimd | 0 |").endswith("| 2.0% (2) | yes |")
       and line_with(table, "| p5 | simmimd | 1 |").endswith("| 6.0% (4) | **no** |")
       and line_with(table, "| p5 | simmimd | mean of 2 |").endswith("| 3.0% (4) | yes |"))
twins = [run("scratch-ft10", 0, 83.0, [30]), run("scratch-ft10-bf16", 0, 82.5, [31]),
         run("simmim-p5-ft20-6k-bf16", 0, 70.0, [32, 33], losses=[x * 1.03 for x in P5])]
twin_table = quality.targets_table(twins, [])
spec = quality.RECIPES["simmim-p5-ft20-6k-bf16"]
report("a bf16 twin runs the recipe in bf16, is held to its targets and set beside its fp32 run",
       spec[0] == "p5-bf16" and spec[1]["train"] == {"epochs": 20, "precision": "bf16"}
       and quality.PRETRAIN["p5-bf16"]["train"] == {"epochs": 5, "precision": "bf16"}
       and line_with(twin_table, "| scratch-ft10-bf16 | 0 |", "83.20 ± 0.8").endswith("| yes |")
       and line_with(twin_table, "| scratch-ft10-bf16 − scratch-ft10 | 0 | -0.50 | reported |")
       and line_with(twin_table, "| p5-bf16 | simmimd | 0 |", "| 3.0% (").endswith("| yes |"),
       twin_table if "-v" in sys.argv else "")

torch_pretraining = [{"epochs": 5, "seed": 3, "pretrain_loss_by_epoch": P5[:2]},
                     {"epochs": 10, "seed": 4, "pretrain_loss_by_epoch": [0.55]},  # no simmimd p10 run here
                     {"epochs": 50, "seed": 5, "pretrain_loss_by_epoch": [0.6]}]  # docs/recipes.md has no p50 curve
with_torch = quality.targets_table(results, torch_pretraining)
report("PyTorch pretraining runs are listed for every recipe docs/recipes.md has a curve for",
       line_with(with_torch, "| p5 | PyTorch, epochs 1–2 | 3 |").endswith("| 0.0% (2) | yes |")
       and line_with(with_torch, "| p10 | PyTorch, epochs 1–1 | 4 |").endswith("| 1.1% (1) | yes |")
       and line_with(with_torch, "| p10 | docs/recipes.md |") and "| p50 |" not in with_torch)

torch_runs = [{"recipe": "simmim-p5-ft20-6k", "seed": s, "init": "x.safetensors", "init_job": 1, "init_step": 1170,
               "top1": 70.0 + s, "top1_by_epoch": {"5": 40.0 + s, "20": 70.0 + s}} for s in (0, 1)]
comparison = quality.finetune_comparison(results, torch_runs)
report("PyTorch's fine-tunes stand beside simmimd's from the same start, with means",
       line_with(comparison, "| docs/recipes.md | 0 | its own pretraining |", "5: 48.18 / 20: 72.37")
       and line_with(comparison, "| simmimd | 0 | pretraining job 1 |", "5: 24.00 / 20: 39.00")
       and line_with(comparison, "| simmimd | 0, fine-tune 7 |", "5: 25.00 / 20: 40.00")
       and line_with(comparison, "| simmimd | mean of 2 |", "5: 24.50 / 20: 39.50")
       and line_with(comparison, "| PyTorch | mean of 2 |", "5: 40.50 / 20: 70.50 | 70.50 |")
       and "70.00 / 70.0" not in comparison, comparison if "-v" in sys.argv else "")

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "quality.json")
    json.dump(results, open(out, "w"))
    found = quality.recorded_pretraining(out, "simmim-p5-ft20-6k", 1)
    try:
        quality.recorded_pretraining(out, "simmim-p5-ft20-6k", 2)
        missing = "no exit"
    except SystemExit as e:
        missing = str(e)
    report("--finetune-seed starts from the pretraining the recorded run had, or says there is none",
           found == 3 and "no simmim-p5-ft20-6k run with seed 2" in missing, f"{found}; {missing}")
    json.dump(torch_runs, open(os.path.join(tmp, "torch_finetune.json"), "w"))
    quality.write_table(out, results)
    md = open(os.path.join(tmp, "quality.md")).read()
    report("the readable table has every run, with the machine it ran on, and both comparisons",
           line_with(md, "| simmim-p5-ft20-6k | 0, fine-tune 7 | 50.00 |", "| test |") and "Against the targets" in md
           and "PyTorch's fine-tuning" in md)
