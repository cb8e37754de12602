"""Times simmim-train itself — data loader, augmentation, masking, forward, backward, clipping,
AdamW — on a real dataset, for `make bench`: runs a job of (reps + 1) × steps steps with a
progress event every `steps` steps, drops the first (warm-up) interval, and reports the
median img/s of the others, the fraction of step time spent waiting for the loader (the
trainer's data_wait_s), and the trainer's peak RSS. Prints one JSON line like torch_step.py.
A pretraining run may choose the SimMIM head with bench_step's options (--decoder,
--decoder-depth, --decoder-hidden, --loss, --loss-k, --target-resolution), written to the
spec's decoder, loss and target sections.
Usage: trainer_step.py --preset P --kind pretrain|finetune --batch B --threads T --steps S
       --reps R [--precision fp32|bf16] --data-format idx|imagefolder --data DIR [head options]"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

PRESET_MASK_PATCH = {"vit-t16-224": 32, "vit-s16-224": 32}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", required=True)
    ap.add_argument("--kind", default="pretrain")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--data-format", default="idx")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--train-binary", default="build/simmim-train")
    ap.add_argument("--decoder", default="linear")
    ap.add_argument("--decoder-depth", type=int, default=0)
    ap.add_argument("--decoder-hidden", type=int, default=0)
    ap.add_argument("--loss", default="l1")
    ap.add_argument("--loss-k", type=int, default=0)
    ap.add_argument("--target-resolution", type=int, default=0)
    a = ap.parse_args()
    total = (a.reps + 1) * a.steps
    spec = {"kind": a.kind, "dataset": {"format": a.data_format, "path": a.data},
            "model": {"preset": a.preset},
            "train": {"batch_size": a.batch, "threads": a.threads, "precision": a.precision,
                      "max_steps": total, "epochs": 1000},
            "schedule": {"progress_every_steps": a.steps, "checkpoint_every_steps": 10**9,
                         "preview_every_steps": 10**9}}
    if a.kind == "pretrain" and a.preset in PRESET_MASK_PATCH:
        spec["mask"] = {"mask_patch_size": PRESET_MASK_PATCH[a.preset]}
    # The head: only the sections that differ from the default, so a base run's spec is as
    # it always was.
    if a.decoder != "linear":
        spec["decoder"] = {"type": a.decoder}
        if a.decoder == "transformer" and a.decoder_depth:
            spec["decoder"]["depth"] = a.decoder_depth
        if a.decoder == "mlp" and a.decoder_hidden:
            spec["decoder"]["hidden"] = a.decoder_hidden
    if a.loss != "l1":
        spec["loss"] = {"type": a.loss}
        if a.loss in ("bins", "palette") and a.loss_k:
            spec["loss"][a.loss] = a.loss_k
    if a.target_resolution:
        spec["target"] = {"resolution": a.target_resolution}
    with tempfile.TemporaryDirectory() as run:
        with open(os.path.join(run, "spec.json"), "w") as f:
            json.dump(spec, f)
        out = subprocess.run([a.train_binary, "--spec", os.path.join(run, "spec.json"),
                              "--run-dir", os.path.join(run, "run")],
                             capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"simmim-train failed: {out.stderr.strip().splitlines()[-1:]}")
    events = [json.loads(line) for line in out.stdout.splitlines()]
    progress = [e for e in events if e["event"] == "progress"][1:]  # the first interval warms up
    rates = [e["img_per_s"] for e in progress]
    seconds = sum(a.steps * a.batch / r for r in rates)
    waited = sum(e["data_wait_s"] for e in progress)
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"impl": "simmimd-trainer", "preset": a.preset, "kind": a.kind, "batch": a.batch,
                      "threads": a.threads, "precision": a.precision,
                      "img_per_s": round(statistics.median(rates), 2),
                      "img_per_s_reps": [round(r, 2) for r in rates],
                      "data_wait_fraction": round(waited / seconds, 4), "peak_rss_mb": round(rss_mb, 1)}))


main()
