"""The quality benchmark (issue 7): submits docs/recipes.md's recipes as jobs to a running simmimd,
waits for them, and writes tests/bench/results/quality.json (a list of {recipe, top1,
pretrain_loss_by_epoch, wall_s, img_per_s, date, machine, seed, finetune_seed}) and a readable
table beside it.
wall_s is the time the recipe's jobs spent running (the daemon's duration_s: not queued,
paused or waiting out a stop); img_per_s is the median of the training throughput the
trainer reports every few steps, so a stall (a stop, another program taking the cores) moves
the wall time but not the speed figure.

Usage: quality.py [--url http://127.0.0.1:8080] [--token T] [--seed 0] [--finetune-seed S]
                  [--priority 0] [--dataset NAME] [--spec JSON] RECIPE...
(--priority: the jobs' scheduling priority, e.g. -1 to queue a second seed behind a first run;
--finetune-seed: fine-tune with another seed from the --seed pretraining, to tell the spread
fine-tuning alone brings from the spread of the whole recipe; such runs are listed, not
counted against the targets)
--dataset NAME runs the recipes on a registered dataset other than the spec's default
(fashion-mnist), e.g. Fashion-MNIST exported as PNG folders (build/make_images export-idx)
and registered under a data root; --spec JSON is merged into every job's spec, e.g.
'{"data": {"cache_mb": 0}}' (forced streaming, issue 26). Either one gives the jobs' names a
suffix (-on-NAME, -spec-<hash of JSON>), so they never reuse the default runs' jobs, and
writes to results/quality-<suffix>.json instead of quality.json (--out to choose); its table
then also sets each recipe beside quality.json's runs of it (their seed spread).
Recipes: scratch-ft10, scratch-ft10-nold, simmim-p10-ft10, simmim-p10-ft10-full,
         scratch-ft20-6k-nold, simmim-p5-ft20-6k, simmim-p5-ft20-6k-nold, simmim-p50-ft30,
         scratch-ft30-nold, the Swin few-label pair swin-p5-ft20-6k and its fair baseline
         swin-scratch-ft20-6k-nold (model preset swin-fmnist, the ViT pair's schedule; issue 28),
         swin-p5-ft20-6k-nold (the same fine-tuning without layer decay), swin-p10-ft20-6k (after
         twice the pretraining),
         and each as RECIPE-bf16 (train.precision bf16). A recipe's pretraining job is shared by
         the recipes that need it.
Standard library only."""
import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# recipe → (pretraining spec or None, fine-tuning spec); docs/recipes.md's values, everything else
# the job spec's defaults (which are the reference recipes). simmim-p10-ft10 and scratch-ft10
# are submitted with nothing set: the defaults alone must give the reference's results.
PRETRAIN = {
    "p10": {"kind": "pretrain"},
    "p10-full": {"kind": "pretrain", "train": {"epochs": 10}, "loss": {"scope": "full"}},
    "p5": {"kind": "pretrain", "train": {"epochs": 5}},
    "p50": {"kind": "pretrain", "train": {"epochs": 50}},
    "swin-p5": {"kind": "pretrain", "model": {"preset": "swin-fmnist"}, "train": {"epochs": 5}},
    "swin-p10": {"kind": "pretrain", "model": {"preset": "swin-fmnist"}, "train": {"epochs": 10}},
}
FEW = {"labels_per_class": 600}
RECIPES = {
    "scratch-ft10": (None, {}),
    "scratch-ft10-nold": (None, {"train": {"epochs": 10}, "finetune": {"layer_decay": 1.0}}),
    "simmim-p10-ft10": ("p10", {}),
    "simmim-p10-ft10-full": ("p10-full", {"train": {"epochs": 10}}),
    "scratch-ft20-6k-nold": (None, {"train": {"epochs": 20}, "finetune": dict(FEW, layer_decay=1.0)}),
    "simmim-p5-ft20-6k": ("p5", {"train": {"epochs": 20}, "finetune": dict(FEW)}),
    "simmim-p5-ft20-6k-nold": ("p5", {"train": {"epochs": 20}, "finetune": dict(FEW, layer_decay=1.0)}),
    "simmim-p50-ft30": ("p50", {"train": {"epochs": 30}}),
    "scratch-ft30-nold": (None, {"train": {"epochs": 30}, "finetune": {"layer_decay": 1.0}}),
    # Issue 28: SimMIM-Swin against Swin from scratch, the ViT few-label pair's schedule (the
    # fine-tuning's model is its checkpoint's).
    "swin-p5-ft20-6k": ("swin-p5", {"train": {"epochs": 20}, "finetune": dict(FEW)}),
    "swin-scratch-ft20-6k-nold": (None, {"model": {"preset": "swin-fmnist"}, "train": {"epochs": 20},
                                         "finetune": dict(FEW, layer_decay=1.0)}),
    # Whether layer decay 0.75, over the Swin's 8 layer ids, holds its pretrained gain back.
    "swin-p5-ft20-6k-nold": ("swin-p5", {"train": {"epochs": 20}, "finetune": dict(FEW, layer_decay=1.0)}),
    # Whether twice the pretraining widens the Swin's gain (the paper's grows with it).
    "swin-p10-ft20-6k": ("swin-p10", {"train": {"epochs": 20}, "finetune": dict(FEW)}),
}

# Issue 7's targets against docs/recipes.md: recipe → (reference top-1, tolerance in pp, the seeds
# behind the reference). Ours are read as the mean over the seeds run.
TARGETS = {
    "scratch-ft10": (83.20, 0.8, "mean of 3 seeds"),
    "scratch-ft10-nold": (85.04, 0.8, "one seed"),
    "simmim-p10-ft10": (85.10, 0.8, "mean of 3 seeds"),
    "scratch-ft20-6k-nold": (67.37, 1.5, "one seed"),
    "simmim-p5-ft20-6k": (72.37, 1.5, "one seed"),
}
FLOORS = {"simmim-p50-ft30": 91.5}  # the stretch: at least this top-1
# Reported, not gated, beside what docs/recipes.md has to compare them with.
REPORTED = {"simmim-p10-ft10-full": "docs/recipes.md: 84.03 (one seed)",
            "simmim-p5-ft20-6k-nold": "docs/recipes.md has no figure",
            "scratch-ft30-nold": "docs/recipes.md: scratch-ft30 (layer decay 0.75) 87.71",
            "swin-p5-ft20-6k": "issue 28; beside simmim-p5-ft20-6k (the ViT's)",
            "swin-scratch-ft20-6k-nold": "issue 28; beside scratch-ft20-6k-nold (the ViT's)",
            "swin-p5-ft20-6k-nold": "issue 28; swin-p5-ft20-6k without layer decay",
            "swin-p10-ft20-6k": "issue 28; swin-p5-ft20-6k after twice the pretraining"}
# docs/recipes.md's pretraining loss per epoch; ours within 5% at every epoch.
REFERENCE_LOSS = {
    "p10": [0.544, 0.406, 0.364, 0.322, 0.279, 0.274, 0.258, 0.250, 0.246, 0.239],
    "p5": [0.544, 0.398, 0.365, 0.325, 0.297],
}
LOSS_TOLERANCE = 0.05
# docs/recipes.md's top-1 at epochs 5/10/15/20 of the few-label fine-tunes.
REFERENCE_TOP1_BY_EPOCH = {
    "scratch-ft20-6k-nold": {5: 41.32, 10: 61.19, 15: 63.61, 20: 67.37},
    "simmim-p5-ft20-6k": {5: 48.18, 10: 67.05, 15: 70.82, 20: 72.37},
}
# Differences in top-1, same seed: (recipe, baseline, least difference in pp or None). Mostly
# pretraining's gain; the last compares the masked-area loss with the full-image one.
DIFFERENCES = [
    ("simmim-p5-ft20-6k", "scratch-ft20-6k-nold", 3.0),
    ("simmim-p10-ft10", "scratch-ft10", None),
    ("simmim-p10-ft10", "scratch-ft10-nold", None),
    ("simmim-p5-ft20-6k-nold", "scratch-ft20-6k-nold", None),
    ("simmim-p50-ft30", "scratch-ft30-nold", 0.0),
    ("simmim-p10-ft10", "simmim-p10-ft10-full", None),
    # Issue 28: pretraining's gain for a Swin (at least 2 pp over 3 seeds), and Swin beside ViT.
    ("swin-p5-ft20-6k", "swin-scratch-ft20-6k-nold", 2.0),
    ("swin-p5-ft20-6k", "simmim-p5-ft20-6k", None),
    ("swin-scratch-ft20-6k-nold", "scratch-ft20-6k-nold", None),
    ("swin-p5-ft20-6k-nold", "swin-scratch-ft20-6k-nold", None),
    ("swin-p5-ft20-6k-nold", "swin-p5-ft20-6k", None),
    ("swin-p10-ft20-6k", "swin-scratch-ft20-6k-nold", None),
    ("swin-p10-ft20-6k", "swin-p5-ft20-6k", None),
]


class Api:
    def __init__(self, url, token):
        self.url, self.token = url.rstrip("/"), token

    def call(self, method, path, body=None, conflict_ok=False):
        """The reply's JSON; with conflict_ok, None for a 409 (the job moved on meanwhile)."""
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        for attempt in range(360):  # a daemon restart (its jobs resume) is waited out, up to an hour
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return json.load(r)
            except urllib.error.HTTPError as e:
                if conflict_ok and e.code == 409:
                    return None
                sys.exit(f"{method} {path}: {e.code} {e.read().decode()}")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(10)
        sys.exit(f"{method} {path}: the daemon did not answer for an hour")

    def submit(self, spec):
        """The job of this name and spec if one is already queued, running or done (so a
        re-run of the benchmark picks up where it stopped); otherwise a new one."""
        for job in self.call("GET", "/api/v1/jobs?limit=1000")["jobs"]:
            same = job["name"] == spec["name"] and job["state"] in ("queued", "running", "paused", "succeeded")
            if same and all(job["spec"]["train"].get(k) == v for k, v in spec.get("train", {}).items()):
                if job["state"] == "paused":
                    self.call("POST", f"/api/v1/jobs/{job['id']}/resume")
                return job
        return self.call("POST", "/api/v1/jobs", spec)

    def make_way(self, job):
        """The daemon fills a free slot the moment a pretraining ends, before the benchmark can
        submit its fine-tune; a lower-priority job that got in that way is paused (it
        checkpoints) and resumed, which queues it again behind the fine-tune."""
        time.sleep(2)
        if self.call("GET", f"/api/v1/jobs/{job['id']}")["state"] != "queued":
            return
        for other in self.call("GET", "/api/v1/jobs?state=running")["jobs"]:
            if other["priority"] < job["priority"]:
                if self.call("POST", f"/api/v1/jobs/{other['id']}/pause", conflict_ok=True) is None:
                    continue  # it finished meanwhile
                while self.call("GET", f"/api/v1/jobs/{other['id']}")["state"] == "running":
                    time.sleep(2)
                self.call("POST", f"/api/v1/jobs/{other['id']}/resume", conflict_ok=True)


def merge(base, extra):
    out = json.loads(json.dumps(base))
    for k, v in extra.items():
        out[k] = merge(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def add_bf16_twins():
    """Every recipe again as RECIPE-bf16: pretraining and fine-tuning with train.precision bf16
    (matrix products in bf16 on AMX or AVX512-BF16, fp32 accumulation), held to the same targets, and set
    beside the fp32 run of the same seed."""
    bf16 = {"train": {"precision": "bf16"}}
    for key in list(PRETRAIN):
        PRETRAIN[key + "-bf16"] = merge(PRETRAIN[key], bf16)
    for name, (pre_key, finetune) in list(RECIPES.items()):
        RECIPES[name + "-bf16"] = (pre_key and pre_key + "-bf16", merge(finetune, bf16))
    for table in (TARGETS, FLOORS, REFERENCE_LOSS):
        table.update({key + "-bf16": value for key, value in list(table.items())})
    for name in list(TARGETS) + list(FLOORS):
        if not name.endswith("-bf16"):
            DIFFERENCES.append((name + "-bf16", name, None))


add_bf16_twins()


def wait(api, job_id):
    while True:
        job = api.call("GET", f"/api/v1/jobs/{job_id}")
        if job["state"] in ("succeeded", "failed", "cancelled"):
            if job["state"] != "succeeded":
                sys.exit(f"job {job_id} {job['state']}: {job.get('error')}")
            return job
        time.sleep(10)


def epoch_losses(api, job_id, steps_per_epoch):
    """Mean training loss per epoch over its steps, from the progress points: each is the mean
    over the steps since the one before, so it counts for those steps, in whichever epochs
    they fall (a point can straddle an epoch's end)."""
    sums = {}
    last = 0
    for m in api.call("GET", f"/api/v1/jobs/{job_id}/metrics")["metrics"]:
        if "loss" not in m:
            continue
        for step in range(last + 1, m["step"] + 1):
            s = sums.setdefault((step - 1) // steps_per_epoch, [0.0, 0])
            s[0] += m["loss"]
            s[1] += 1
        last = m["step"]
    return [round(s / n, 4) for _, (s, n) in sorted(sums.items())]


def training_img_per_s(api, job_ids):
    """The median of the trainer's reported throughput over the jobs' progress points."""
    rates = [m["img_per_s"] for job_id in job_ids
             for m in api.call("GET", f"/api/v1/jobs/{job_id}/metrics")["metrics"] if "img_per_s" in m]
    return round(statistics.median(rates), 1) if rates else None


def top1_by_epoch(api, job_id):
    """Test-set top-1 after each fine-tuning epoch, from the evaluation points."""
    return [m["top1"] for m in api.call("GET", f"/api/v1/jobs/{job_id}/metrics")["metrics"] if "top1" in m]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--token", default=os.environ.get("SIMMIMD_TOKEN"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--finetune-seed", type=int)
    ap.add_argument("--priority", type=int, default=0)
    ap.add_argument("--dataset", help="a registered dataset (default: the job spec's, fashion-mnist)")
    ap.add_argument("--spec", help="JSON merged into every job's spec, e.g. '{\"data\": {\"cache_mb\": 0}}'")
    ap.add_argument("--out", help="default: results/quality.json, or results/quality-SUFFIX.json with "
                                  "--dataset or --spec")
    ap.add_argument("--table", action="store_true", help="only rewrite the tables from the JSON")
    ap.add_argument("recipes", nargs="*", metavar="RECIPE", help=", ".join(RECIPES))
    args = ap.parse_args()
    extra = {}
    if args.spec:
        try:
            extra = json.loads(args.spec)
        except ValueError as e:
            ap.error(f"--spec: not JSON: {e}")
        if not isinstance(extra, dict):
            ap.error("--spec: a JSON object, e.g. '{\"data\": {\"cache_mb\": 0}}'")
    suffix = variant_suffix(args.dataset, extra)
    if args.out is None:
        args.out = os.path.join(os.path.dirname(__file__), "results", f"quality{suffix}.json")
    if args.table:
        write_table(args.out, json.load(open(args.out)))
        return
    if not args.recipes:
        ap.error("name at least one recipe")
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe {unknown[0]!r}; choose from {', '.join(RECIPES)}")
    finetune_seed = args.seed if args.finetune_seed is None else args.finetune_seed
    if finetune_seed != args.seed and any(not RECIPES[r][0] for r in args.recipes):
        ap.error("--finetune-seed is for recipes that pretrain; a scratch recipe has only --seed")
    api = Api(args.url, args.token)
    if args.dataset:
        api.call("GET", f"/api/v1/datasets/{urllib.parse.quote(args.dataset, safe='')}")  # exits if unknown
    seed = {"train": {"seed": args.seed}, "priority": args.priority}
    # The variant's fields: its dataset, then --spec (the recipe's own values stay unless --spec
    # sets them; the seed and priority of this run always win).
    variant = merge({"dataset": args.dataset} if args.dataset else {}, extra)

    def pretrain_spec(pre_key):
        spec = merge(merge(PRETRAIN[pre_key], variant), {"name": f"pretrain-{pre_key}-seed{args.seed}{suffix}"})
        return merge(spec, seed)

    def finetune_spec(recipe):
        name = f"{recipe}-seed{args.seed}" + (f"-ft{finetune_seed}" if finetune_seed != args.seed else "") + suffix
        spec = merge(merge(merge({"kind": "finetune"}, RECIPES[recipe][1]), variant), {"name": name})
        return merge(merge(spec, seed), {"train": {"seed": finetune_seed}})

    # Everything that needs no other job is queued at once, in the order given, so the daemon
    # never sits idle (or starts a lower-priority job) while a fine-tune waits to be submitted.
    # A recipe's pretraining is shared by the recipes that need it; with --finetune-seed it is
    # the very job the recipe's --seed run started from.
    submitted, start_of = {}, {}
    for recipe in args.recipes:
        pre_key = RECIPES[recipe][0]
        if not pre_key:
            submitted[recipe] = api.submit(finetune_spec(recipe))
        elif finetune_seed == args.seed:
            start_of[recipe] = pre_key
            if pre_key not in submitted:
                submitted[pre_key] = api.submit(pretrain_spec(pre_key))
        else:
            start_of[recipe] = recorded_pretraining(args.out, recipe, args.seed)
            submitted[start_of[recipe]] = {"id": start_of[recipe]}
    pretrained = {}
    results = []
    for recipe in args.recipes:
        pre_key = RECIPES[recipe][0]
        pre_losses, wall = None, 0.0
        ft_spec = finetune_spec(recipe)
        if pre_key:
            start = start_of[recipe]
            if start not in pretrained:
                pretrained[start] = wait(api, submitted[start]["id"])
            pj = pretrained[start]
            spe = max(1, pj["progress"]["total"] // pj["spec"]["train"]["epochs"])
            pre_losses = epoch_losses(api, pj["id"], spe)
            wall += pj["duration_s"]
            ft_spec = merge(ft_spec, {"finetune": {"init_from": pj["id"]}})
        if recipe not in submitted:
            submitted[recipe] = api.submit(ft_spec)
            api.make_way(submitted[recipe])
        job = wait(api, submitted[recipe]["id"])
        wall += job["duration_s"]
        job_ids = [pj["id"], job["id"]] if pre_key else [job["id"]]
        results.append({"recipe": recipe, "top1": job["metrics"].get("top1"),
                        "top1_by_epoch": top1_by_epoch(api, job["id"]),
                        "pretrain_loss_by_epoch": pre_losses, "wall_s": round(wall, 1),
                        "img_per_s": training_img_per_s(api, job_ids),
                        "seed": args.seed, "finetune_seed": finetune_seed, "job_ids": job_ids,
                        "date": datetime.date.today().isoformat(),
                        "machine": machine()})
        if args.dataset:
            results[-1]["dataset"] = args.dataset
        if extra:
            results[-1]["spec"] = extra
        print(json.dumps(results[-1]), flush=True)
        save(args.out, results[-1])
    print(open(os.path.splitext(args.out)[0] + ".md").read())


def variant_suffix(dataset, extra):
    """What tells a variant's job names and results file from the default runs': -on-NAME for
    a dataset, -spec-<6 hex digits of the JSON's SHA-1> for --spec; "" for neither."""
    suffix = f"-on-{dataset}" if dataset else ""
    if extra:
        text = json.dumps(extra, sort_keys=True, separators=(",", ":"))
        suffix += "-spec-" + hashlib.sha1(text.encode()).hexdigest()[:6]
    return suffix


def recorded_pretraining(out, recipe, seed):
    """The pretraining job the recorded run of recipe with seed started from."""
    for r in json.load(open(out)) if os.path.exists(out) else []:
        if r["recipe"] == recipe and r["seed"] == seed == r["finetune_seed"]:
            return r["job_ids"][0]
    sys.exit(f"--finetune-seed: {out} has no {recipe} run with seed {seed} to start from; run that first")


def machine():
    """Architecture, cores and processor model: what the wall time and img/s depend on."""
    return f"{platform.machine()} {os.cpu_count()} cores, {cpu_model()}, {platform.node()}"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown processor"


def replace_result(out, result, keys):
    """Adds one result to the JSON list in out, replacing one that has the same values at keys;
    returns the list."""
    existing = json.load(open(out)) if os.path.exists(out) else []
    merged = [r for r in existing if any(r.get(k) != result[k] for k in keys)]
    merged.append(result)
    json.dump(merged, open(out, "w"), indent=1)
    return merged


def save(out, result):
    """Adds one result to quality.json (replacing the same recipe and seeds) and rewrites the
    table beside it, so a benchmark stopped part way keeps what it finished."""
    write_table(out, replace_result(out, result, ("recipe", "seed", "finetune_seed")))


def write_table(out, merged):
    with open(os.path.splitext(out)[0] + ".md", "w") as f:
        f.write("| recipe | seed | top-1 % | top-1 at epochs 5/10/15/20/… | pretraining loss by epoch "
                "| wall s | img/s | machine | date |\n|---|---|---|---|---|---|---|---|---|\n")
        for r in merged:
            every5 = " / ".join(f"{x:.2f}" for x in r.get("top1_by_epoch", [])[4::5]) or "—"
            f.write(f"| {r['recipe']} | {seeds_text(r)} | {r['top1']:.2f} | {every5} "
                    f"| {losses_text(r['pretrain_loss_by_epoch'])} | {r['wall_s']} | {r['img_per_s']} "
                    f"| {r['machine']} | {r['date']} |\n")
        f.write("\n" + targets_table(merged, torch_results(out, "torch_pretrain.json")))
        torch_finetunes = torch_results(out, "torch_finetune.json")
        if torch_finetunes:
            f.write("\n" + finetune_comparison(merged, torch_finetunes))
        default_runs = os.path.join(os.path.dirname(out), "quality.json")
        if os.path.basename(out) != "quality.json" and os.path.exists(default_runs):
            f.write("\n" + spread_comparison(merged, json.load(open(default_runs))))


def torch_results(out, name):
    """The PyTorch runs recorded beside quality.json (torch_pretrain.py, torch_finetune.py)."""
    path = os.path.join(os.path.dirname(out), name)
    return json.load(open(path)) if os.path.exists(path) else []


def seeds_text(result):
    if result["finetune_seed"] == result["seed"]:
        return str(result["seed"])
    return f"{result['seed']}, fine-tune {result['finetune_seed']}"


def losses_text(curve):
    return ", ".join(f"{x:.3f}" for x in curve or []) or "—"


def spread_text(values, standard_error=False):
    """How far single seeds stray (the sample standard deviation) and, for a mean that gates a
    target, how well it is known (its standard error); empty for one seed."""
    if len(values) < 2:
        return ""
    sd = statistics.stdev(values)
    text = f"sd {sd:.2f}" + (f", s.e. {sd / len(values) ** 0.5:.2f}" if standard_error else "")
    return f" ({text})"


def met(ok):
    return "yes" if ok else "**no**"


def targets_table(results, torch_runs):
    """The results against issue 7's targets: seed means, per-seed gains, loss curves (ours and
    PyTorch's)."""
    by = {}
    for r in results:
        if r["finetune_seed"] == r["seed"]:
            by.setdefault(r["recipe"], {})[r["seed"]] = r
    lines = ["Against the targets (docs/recipes.md):", "",
             "| recipe | seeds | top-1 % per seed | mean | target | met |",
             "|---|---|---|---|---|---|"]
    for recipe in list(TARGETS) + list(FLOORS) + list(REPORTED):
        runs = by.get(recipe)
        if not runs:
            continue
        tops = [runs[seed]["top1"] for seed in sorted(runs)]
        mean = statistics.fmean(tops)
        if recipe in TARGETS:
            ref, tol, ref_seeds = TARGETS[recipe]
            target, ok = f"{ref:.2f} ± {tol} ({ref_seeds})", abs(mean - ref) <= tol
        elif recipe in FLOORS:
            target, ok = f"≥ {FLOORS[recipe]}", mean >= FLOORS[recipe]
        else:
            target, ok = f"reported; {REPORTED[recipe]}", None
        lines.append(f"| {recipe} | {', '.join(map(str, sorted(runs)))} | "
                     f"{' / '.join(f'{t:.2f}' for t in tops)} | {mean:.2f}{spread_text(tops)} | {target} | "
                     f"{'—' if ok is None else met(ok)} |")
    lines += ["", "| recipe − baseline (same seed) | seed | difference pp | target |", "|---|---|---|---|"]
    for recipe, baseline, least in DIFFERENCES:
        seeds = sorted(set(by.get(recipe, {})) & set(by.get(baseline, {})))
        diffs = [(str(seed), by[recipe][seed]["top1"] - by[baseline][seed]["top1"]) for seed in seeds]
        if len(diffs) > 1:
            values = [d for _, d in diffs]
            diffs.append((f"mean of {len(values)}{spread_text(values, standard_error=True)}",
                          statistics.fmean(values)))
        for seed, diff in diffs:
            target = "reported" if least is None else f"≥ {least}: {met(diff >= least)}"
            lines.append(f"| {recipe} − {baseline} | {seed} | {diff:+.2f} | {target} |")
    lines += ["", f"| pretraining | run | seed | loss by epoch | largest deviation from docs/recipes.md's "
              f"(epoch) | within {LOSS_TOLERANCE:.0%} at every epoch |",
              "|---|---|---|---|---|---|"]
    curves = {}
    for r in results:
        pre_key = RECIPES[r["recipe"]][0]
        if pre_key in REFERENCE_LOSS and r["pretrain_loss_by_epoch"]:
            curves.setdefault(pre_key, {}).setdefault(r["seed"], r["pretrain_loss_by_epoch"])
    # Beside ours, PyTorch runs of the same recipe (torch_pretrain.py), often stopped part way:
    # how far the reference implementation itself strays from docs/recipes.md's one run.
    by_pretraining = {}
    for pre_key, by_seed in curves.items():
        rows = [("simmimd", str(seed), by_seed[seed]) for seed in sorted(by_seed)]
        if len(by_seed) > 1:
            rows.append(("simmimd", f"mean of {len(by_seed)}", [sum(c) / len(c) for c in zip(*by_seed.values())]))
        by_pretraining[pre_key] = rows
    for run in sorted(torch_runs, key=lambda run: run["seed"]):
        curve, pre_key = run["pretrain_loss_by_epoch"], f"p{run['epochs']}"
        if pre_key in REFERENCE_LOSS:
            by_pretraining.setdefault(pre_key, []).append(
                (f"PyTorch, epochs 1–{len(curve)}", str(run["seed"]), curve))
    for pre_key, rows in by_pretraining.items():
        reference = REFERENCE_LOSS[pre_key]
        lines.append(f"| {pre_key} | docs/recipes.md | 0 | {losses_text(reference)} | — | — |")
        for implementation, seed, curve in rows:
            worst, epoch = max((abs(ours - ref) / ref, epoch) for epoch, (ours, ref)
                               in enumerate(zip(curve, reference), start=1))
            lines.append(f"| {pre_key} | {implementation} | {seed} | {losses_text(curve)} "
                         f"| {100 * worst:.1f}% ({epoch}) | {met(worst <= LOSS_TOLERANCE)} |")
    return "\n".join(lines) + "\n"


def spread_comparison(results, default_runs):
    """A variant's runs (another dataset, or spec fields) beside the default runs of the same
    recipe in quality.json: the default runs' seeds, their range and mean, and whether the
    variant's mean (and each of its seeds) lies within that range."""
    def whole(runs, recipe):
        return sorted((r for r in runs if r["recipe"] == recipe and r["seed"] == r["finetune_seed"]),
                      key=lambda r: r["seed"])
    what = sorted({r.get("dataset", "fashion-mnist") + (" " + json.dumps(r["spec"]) if r.get("spec") else "")
                   for r in results})
    lines = [f"Beside the default runs (quality.json: the registered fashion-mnist, IDX) — this file: "
             f"{'; '.join(what)}:", "",
             "| recipe | default runs: seeds | top-1 range | mean | these runs: seed: top-1 | mean "
             "| mean within the range | seeds within |", "|---|---|---|---|---|---|---|---|"]
    for recipe in dict.fromkeys(r["recipe"] for r in results):
        ours, base = whole(results, recipe), whole(default_runs, recipe)
        if not ours or not base:
            continue
        tops = [r["top1"] for r in base]
        lo, hi, mean = min(tops), max(tops), statistics.fmean(tops)
        our_tops = [r["top1"] for r in ours]
        our_mean = statistics.fmean(our_tops)
        inside = sum(lo <= t <= hi for t in our_tops)
        seeds = ", ".join(f"{r['seed']}: {r['top1']:.2f}" for r in ours)
        lines.append(f"| {recipe} | {', '.join(str(r['seed']) for r in base)} | {lo:.2f}–{hi:.2f} "
                     f"| {mean:.2f}{spread_text(tops)} | {seeds} "
                     f"| {our_mean:.2f}{spread_text(our_tops)} | {met(lo <= our_mean <= hi)} "
                     f"| {inside} of {len(our_tops)} |")
    return "\n".join(lines) + "\n"


def finetune_comparison(results, torch_runs):
    """The PyTorch fine-tunes (torch_finetune.py) beside simmimd's runs of the same recipe from
    the same start (a pretraining job's checkpoint, or random initialisation with the same
    seed) on the same labels, and docs/recipes.md's run, at the epochs PyTorch evaluated; with more
    than one run of a kind, their mean."""
    groups = {}
    for run in torch_runs:
        start = ("job", run["init_job"]) if run["init"] else ("random", run["seed"])
        groups.setdefault((run["recipe"], start), []).append(run)
    lines = ["PyTorch's fine-tuning (tests/bench/torch_finetune.py) from the start simmimd's runs had:", "",
             "| recipe | run | seed | start | top-1 % at epochs | top-1 % |", "|---|---|---|---|---|---|"]
    for (recipe, (kind, value)), runs in sorted(groups.items(), key=lambda g: (g[0][0], str(g[0][1]))):
        epochs = sorted(int(e) for e in runs[0]["top1_by_epoch"])
        if kind == "job":
            start = f"pretraining job {value}"
            ours = [r for r in results if r["recipe"] == recipe and r["job_ids"][0] == value]
        else:
            start = "random"
            ours = [r for r in results if r["recipe"] == recipe and r["seed"] == value]

        def row(implementation, seed, start, curve):
            by_epoch = " / ".join(f"{e}: {curve[e]:.2f}" for e in epochs)
            return f"| {recipe} | {implementation} | {seed} | {start} | {by_epoch} | {curve[epochs[-1]]:.2f} |"

        def rows(implementation, curves):
            out = [row(implementation, seed, start, curve) for seed, curve in curves]
            if len(curves) > 1:
                mean = {e: sum(curve[e] for _, curve in curves) / len(curves) for e in epochs}
                out.append(row(implementation, f"mean of {len(curves)}", start, mean))
            return out

        ref = REFERENCE_TOP1_BY_EPOCH.get(recipe, {})
        if all(e in ref for e in epochs):
            lines.append(row("docs/recipes.md", "0", "its own pretraining" if kind == "job" else "random", ref))
        lines += rows("simmimd", [(seeds_text(r), {e: r["top1_by_epoch"][e - 1] for e in epochs})
                                  for r in sorted(ours, key=lambda r: r["finetune_seed"])])
        lines += rows("PyTorch", [(str(run["seed"]), {e: run["top1_by_epoch"][str(e)] for e in epochs})
                                  for run in sorted(runs, key=lambda run: run["seed"])])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
