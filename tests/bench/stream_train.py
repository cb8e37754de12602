#!/usr/bin/python3
"""One simmim-train run on an image folder with the data section of issue 26 (data.cache_mb 0:
forced streaming), for tests/bench/bench_data.sh's memory and training-cost checks: a
pretraining of `steps` steps with a progress event every `progress_every` steps, no
checkpoint or preview before the end. Reports the trainer's peak RSS (its own, from wait4),
the median img/s of the progress intervals after the first (which includes start-up and
warm-up), the share of step time spent waiting for data, and the start event's data_path and
its reason; and from /proc, the share of the machine's cores the trainer had over the same
intervals (its CPU time over wall time × cores; well under 1: other programs took them, and
img/s says more of them than of simmimd — the CPU time itself is no measure of the work under
such load: OpenMP's threads spin while they wait for a descheduled sibling).

Usage: stream_train.py --data DIR [--preset vit-t16-224] [--batch 32] [--steps 20]
                       [--progress-every 5] [--precision fp32] [--threads 2] [--cache-mb 0|-1]
                       [--workers W] [--train-binary build/simmim-train] [--keep-run DIR]
Prints one JSON line {"impl": "simmimd-trainer-stream", "data", "images", "preset", "batch",
"steps", "precision", "threads", "cache_mb", "workers", "peak_rss_mb", "img_per_s",
"data_wait_share", "cpu_share", "data_path", "data_path_reason", "seconds"} and exits 0;
exits 1 when simmim-train fails, or with data.cache_mb 0 does not stream (its start event's
data_path is not "stream"). --cache-mb -1 leaves the data section out (the trainer's default
path: the in-memory cache when the set fits data.cache_mb's default)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

PRESET_MASK_PATCH = {"vit-t16-224": 32, "vit-s16-224": 32}


def process_cpu_seconds(pid):
    """User + system CPU seconds of a running process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def count_images(path):
    n = 0
    for _, _, files in os.walk(path):
        n += sum(f.lower().endswith((".jpg", ".jpeg", ".png")) and not f.startswith(".") for f in files)
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--preset", default="vit-t16-224")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--progress-every", type=int, default=5)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-mb", type=int, default=0, help="data.cache_mb; -1: no data section (today's cache)")
    ap.add_argument("--workers", type=int, help="data.workers (default: the trainer's)")
    ap.add_argument("--train-binary", default="build/simmim-train")
    ap.add_argument("--keep-run", help="write the run directory here instead of a temporary one")
    a = ap.parse_args()
    data = {"cache_mb": a.cache_mb}
    if a.workers is not None:
        data["workers"] = a.workers
    spec = {"kind": "pretrain", "dataset": {"format": "imagefolder", "path": os.path.abspath(a.data)},
            "model": {"preset": a.preset},
            "train": {"batch_size": a.batch, "threads": a.threads, "precision": a.precision,
                      "max_steps": a.steps, "epochs": 1000},
            "schedule": {"progress_every_steps": a.progress_every, "checkpoint_every_steps": 10**9,
                         "preview_every_steps": 10**9}}
    if a.cache_mb >= 0 or a.workers is not None:
        if a.cache_mb < 0:
            del data["cache_mb"]
        spec["data"] = data
    if a.preset in PRESET_MASK_PATCH:
        spec["mask"] = {"mask_patch_size": PRESET_MASK_PATCH[a.preset]}
    with tempfile.TemporaryDirectory() as tmp:
        run = a.keep_run or os.path.join(tmp, "run")
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        start = time.monotonic()
        events, cpu_at = [], []  # cpu_at: (wall, the trainer's CPU seconds) at each progress event
        with open(os.path.join(tmp, "stderr"), "w+") as err:
            child = subprocess.Popen([a.train_binary, "--spec", spec_path, "--run-dir", run],
                                     stdout=subprocess.PIPE, stderr=err, text=True)
            for line in child.stdout:
                if not line.startswith("{"):
                    continue
                events.append(json.loads(line))
                if events[-1]["event"] == "progress":
                    cpu_at.append((time.monotonic(), process_cpu_seconds(child.pid)))
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.monotonic() - start
            err.seek(0)
            stderr = err.read()
    started = [e for e in events if e["event"] == "start"]
    if status != 0:
        last = (stderr.strip().splitlines() or ["(no message)"])[-1]
        sys.exit(f"simmim-train failed: {last}")
    s = started[0]
    if a.cache_mb == 0 and s.get("data_path") != "stream":
        sys.exit(f"simmim-train did not stream with data.cache_mb 0: its start event's data_path is "
                 f"{s.get('data_path')!r} ({s.get('data_path_reason')!r})")
    progress = [e for e in events if e["event"] == "progress"]
    timed = progress[1:] or progress
    step_seconds = sum(a.progress_every * a.batch / e["img_per_s"] for e in timed)
    waited = sum(e.get("data_wait_s", 0) for e in timed)
    # The share of the machine's cores the trainer had from the first progress event to the last.
    cpu_share = None
    if len(cpu_at) > 1 and cpu_at[-1][1] is not None and cpu_at[0][1] is not None:
        cpu = cpu_at[-1][1] - cpu_at[0][1]
        cpu_share = round(cpu / ((cpu_at[-1][0] - cpu_at[0][0]) * os.cpu_count()), 3)
    print(json.dumps({"impl": "simmimd-trainer-stream", "data": a.data, "images": count_images(a.data),
                      "preset": a.preset, "batch": a.batch, "steps": a.steps, "precision": a.precision,
                      "threads": a.threads, "cache_mb": a.cache_mb, "workers": a.workers,
                      "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                      "img_per_s": round(statistics.median(e["img_per_s"] for e in timed), 2),
                      "data_wait_share": round(waited / step_seconds, 4) if step_seconds else None,
                      "cpu_share": cpu_share,
                      "data_path": s.get("data_path"), "data_path_reason": s.get("data_path_reason"),
                      "seconds": round(seconds, 1)}))


if __name__ == "__main__":
    main()
