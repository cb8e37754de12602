#!/usr/bin/env python3
"""SimMIM's findings, re-checked: the paper's ablation tables from one study of variants.

usage: findings.py [--url http://127.0.0.1:8080] [--token T] [--study ID] [--saved FILE]...
                   [--out PREFIX] [--next FILE]

The study (POST /api/v1/studies, docs/http-api.md) has one variant axis, field "pretrain": the
default pretraining ({}) and one-factor-at-a-time changes of it ({"mask": {"ratio": 0.1}},
{"decoder": {"type": "mlp"}}, ...), each fine-tuned in the few-label recipe, with 2 or more seeds
and the baseline. The default cell runs once and stands in every table as its default value.

Per table, per value: top-1 per seed, mean ± sd; the difference from the default cell paired by
seed, mean ± standard error (a tie unless it exceeds twice its se); the gain over the baseline;
the pretraining's cost relative to the default's; beside the paper's top-1 and its difference
from the paper's default (ViT-B, ImageNet-1K; random masking, patch 32, ratio 0.6, linear head,
ℓ1 on the masked area at full resolution: 82.8). Writes PREFIX.md and PREFIX.json (the study as
the API returned it, or the merge). Standard library only.

A study of some 33 runs takes longer than a machine may live: --saved adds the cells of a
study saved earlier (a PREFIX.json this script wrote, committed), so the cells can be spread
over several studies, on several machines. Rows of the same variant are merged seed by seed
(a seed's top-1 from the first source that has it; the statistics recomputed); the seeds must
be the same everywhere. Each seed's run is a sample of the same recipe whichever machine ran
it, so the pairing by seed still holds. A saved rendering of the --study itself (the same id
and creation time) is left out: the live study has all it had. --next FILE writes the POST
/api/v1/studies body of what is still missing (the cells short of a seed, and the baseline),
to start on the next machine."""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import urllib.request

PAPER_DEFAULT = 82.8
# table → (title, the variant's path, the default cell's value, {value: paper top-1}, note)
TABLES = [
    ("mask-ratio", "Mask ratio (random masking, mask patch 8 px of 32)", ("mask", "ratio"), 0.6,
     {0.1: 82.7, 0.3: 82.8, 0.5: 83.0, 0.6: 82.8, 0.7: 82.7, 0.9: 82.4},
     "paper: random masking, patch 32 px of 192"),
    ("mask-type", "Mask type (ratio 0.6; square: one 3×3 square of the 4×4 grid)", ("mask", "type"),
     "random", {"random": 82.8, "block": 82.6, "square": 82.5},
     "paper: block-wise 0.6 at patch 32; square 4×4 of 6×6 (0.44)"),
    ("decoder", "Prediction head", ("decoder", "type"), "linear",
     {"linear": 82.8, "mlp": 82.8, "transformer": 82.4},
     "paper: 2-layer MLP; inverse Swin-T for the transformer head"),
    ("loss", "Loss", ("loss", "type"), "l1", {"l1": 82.8, "l2": 82.7, "smooth_l1": 82.7, "bins": 82.7},
     "paper: 8 bins at full resolution"),
    ("scope", "Scope of the loss", ("loss", "scope"), "masked", {"masked": 82.8, "full": 81.7}, ""),
    ("resolution", "Prediction resolution (of 32 px; T = the 8×8 token grid)", ("target", "resolution"),
     32, {8: 82.7, 16: 82.8, 32: 82.8}, "paper: 48² (1/4), 96² (1/2), 192² (1/1)"),
]


def fetch(url, token, path):
    req = urllib.request.Request(url.rstrip("/") + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def variant_of(row):
    """The (section, key, value) a row's variant changes; None for the default cell."""
    v = row["values"].get("pretrain", {})
    if not v:
        return None
    (section, inner), = v.items()
    if section == "loss" and "type" in inner:
        return ("loss", "type", inner["type"])
    (key, value), = inner.items()
    return (section, key, value)


def paired(a, b):
    """mean and standard error of a[s] − b[s] over the seeds that have both."""
    d = [x - y for x, y in zip(a, b) if x is not None and y is not None]
    if not d:
        return None, None, 0
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else None
    return statistics.mean(d), se, len(d)


def verdict(diff, se):
    if diff is None:
        return "—"
    if se is None or se == 0:
        return "—" if se is None else ("better" if diff > 0 else "worse" if diff < 0 else "tie")
    return "better" if diff > 2 * se else "worse" if diff < -2 * se else "tie"


def agreement(ours, paper_diff):
    """Whether our ordering against the default agrees with the paper's (the paper's figures
    are single runs; a difference of 0.2 pp or less there is read as a tie)."""
    if ours == "—" or paper_diff is None:
        return "—"
    paper = "tie" if abs(paper_diff) <= 0.2 else "better" if paper_diff > 0 else "worse"
    if ours == paper:
        return "agrees"
    if ours == "tie":
        return f"ours a tie (paper {paper})"
    if paper == "tie":
        return f"ours {ours} (paper a tie)"
    return "**disagrees**"


def mean_sd(values):
    v = [x for x in values if x is not None]
    return (statistics.mean(v) if v else None), (statistics.stdev(v) if len(v) > 1 else None)


def merge_rows(rows, seeds):
    """One row from rows of the same variant: per seed the first top-1 there is; the
    pretraining's wall time the mean over the seeds taken."""
    taken = [next((r for r in rows if r["top1"][i] is not None), None) for i in range(len(seeds))]
    top1 = [r["top1"][i] if r else None for i, r in enumerate(taken)]
    walls = [r["pretrain_wall_s"] for r in taken if r and r.get("pretrain_wall_s")]
    merged = dict(rows[0], top1=top1)
    merged["top1_mean"], merged["top1_sd"] = mean_sd(top1)
    merged["pretrain_wall_s"] = statistics.mean(walls) if walls else None
    return merged


def merge(studies):
    """The studies' cells as one study: rows of the same variant (and the baselines) merged."""
    seeds = studies[0]["seeds"]
    for st in studies[1:]:
        if st["seeds"] != seeds:
            sys.exit(f"study {st['id']} has seeds {st['seeds']}, study {studies[0]['id']} {seeds}: "
                     "a merge pairs by seed, so they must be the same")
    by_variant = {}
    for st in studies:
        for r in st["rows"]:
            by_variant.setdefault(json.dumps(r["values"], sort_keys=True), []).append(r)
    rows = [merge_rows(group, seeds) for group in by_variant.values()]
    bases = [st["baseline_row"] for st in studies if st.get("baseline_row")]
    base = merge_rows(bases, seeds) if bases else None
    for r in rows:  # the gain over the baseline, paired by seed
        gain, se, _ = paired(r["top1"], base["top1"]) if base else (None, None, 0)
        r["gain_mean"], r["gain_se"] = gain, se
    done = sum(all(t is not None for t in r["top1"]) for r in rows)
    sources = []
    for st in studies:
        sources += st.get("sources") or [{"study": st["id"], "name": st["name"], "state": st["state"],
                                          "cells_done": st["cells_done"], "cells_total": st["cells_total"],
                                          "created": datetime.date.fromtimestamp(st["created_at"]).isoformat(),
                                          "created_at": st["created_at"]}]
    return {"id": "+".join(str(st["id"]) for st in studies), "name": studies[0]["name"],
            "state": "merged" if len(studies) > 1 else studies[0]["state"], "seeds": seeds,
            "cells_done": done, "cells_total": len(rows), "rows": rows, "baseline_row": base,
            "sources": sources, "pretrain": studies[0].get("pretrain", {}),
            "finetune": studies[0].get("finetune", {})}


def snapshot_of(saved, live):
    """Whether a saved study is an earlier rendering of the live study alone (its every source
    the live study: the same id and creation time), which the live study supersedes."""
    sources = saved.get("sources") or []
    return bool(sources) and all(x.get("study") == live["id"] and x.get("created_at") == live["created_at"]
                                 for x in sources)


def complete(row):
    return row is not None and all(t is not None for t in row["top1"])


def next_study(study):
    """The POST /api/v1/studies body that runs what the study still lacks: the cells without
    every seed's top-1 (all their seeds again), and the baseline if it lacks one; None when
    nothing is missing."""
    todo = [r["values"].get("pretrain", {}) for r in study["rows"] if not complete(r)]
    baseline = not complete(study.get("baseline_row"))
    if not todo and not baseline:
        return None
    body = {"name": study["name"], "pretrain": study["pretrain"], "finetune": study["finetune"],
            "seeds": study["seeds"], "baseline": baseline}
    # A study needs a cell: with only the baseline missing, the default cell runs again too.
    body["axes"] = [{"field": "pretrain", "values": todo or [{}]}]
    return body


def fmt(x, digits=2, sign=False):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def render(study):
    rows = study["rows"]
    default = next((r for r in rows if variant_of(r) is None), None)
    if default is None:
        sys.exit("the study has no default cell (a variant {})")
    seeds = study["seeds"]
    out = [f"Study {study['id']} \"{study['name']}\" ({study['state']}, {study['cells_done']} of "
           f"{study['cells_total']} cells done), seeds {', '.join(map(str, seeds))}. Top-1 % on the "
           f"Fashion-MNIST test set after the few-label fine-tuning; Δ = the difference from the "
           f"default cell paired by seed, mean ± se (a tie unless |Δ| > 2 se); gain = over the "
           f"baseline from random initialisation (layer decay 1.0); cost = pretraining wall time "
           f"over the default's (measured on a shared machine: indicative). Precision: "
           f"{study.get('pretrain', {}).get('train', {}).get('precision', 'fp32')}.", ""]
    if len(study.get("sources", [])) > 1:
        out += ["Merged from: " + "; ".join(f"study {x['study']} \"{x['name']}\" of {x['created']} "
                                           f"({x['cells_done']} of {x['cells_total']} cells)"
                                           for x in study["sources"]) + ".", ""]
    base_row = study.get("baseline_row") or {}
    out.append(f"Baseline (from scratch): top-1 {fmt(base_row.get('top1_mean'))} ± "
               f"{fmt(base_row.get('top1_sd'))} ({', '.join(fmt(t) for t in base_row.get('top1', []))}).")
    out.append("")
    summary = []
    for key, title, (section, field), default_value, paper, note in TABLES:
        members = [(default_value, default)]
        for r in rows:
            v = variant_of(r)
            if v and v[0] == section and v[1] == field:
                members.append((v[2], r))
        members.sort(key=lambda m: (isinstance(m[0], str), m[0]))
        out += [f"### {title}", ""]
        if note:
            out += [f"({note})", ""]
        out += ["| value | top-1 per seed | mean ± sd | Δ vs default | verdict | gain vs scratch | "
                "cost | paper top-1 | paper Δ | ordering |",
                "|---|---|---:|---:|---|---:|---:|---:|---:|---|"]
        for value, r in members:
            is_default = r is default
            diff, se, _ = paired(r["top1"], default["top1"])
            v = "default" if is_default else verdict(diff, se)
            p = paper.get(value)
            pd = None if p is None else round(p - PAPER_DEFAULT, 2)
            cost = (r["pretrain_wall_s"] / default["pretrain_wall_s"]
                    if r.get("pretrain_wall_s") and default.get("pretrain_wall_s") else None)
            agree = "—" if is_default else agreement(v, pd)
            if not is_default:
                summary.append((title, value, v, agree))
            out.append(f"| {value}{' (default)' if is_default else ''} | "
                       f"{' / '.join(fmt(t) for t in r['top1'])} | {fmt(r['top1_mean'])} ± "
                       f"{fmt(r['top1_sd'])} | {'—' if is_default else fmt(diff, sign=True) + ' ± ' + fmt(se)} | "
                       f"{v} | {fmt(r.get('gain_mean'), sign=True)} ± {fmt(r.get('gain_se'))} | "
                       f"{fmt(cost)}× | {fmt(p, 1)} | {fmt(pd, 1, sign=True) if pd is not None else '—'} | {agree} |")
        out.append("")
    measured = [s for s in summary if s[3] != "—"]
    agree = sum(1 for s in measured if s[3] == "agrees")
    others = [f"{t.split(' (')[0].lower()} {v}: {a}" for t, v, _, a in measured if a != "agrees"]
    out.append(f"Orderings against the default: {agree} of the {len(measured)} measured agree with "
               f"the paper's" + (f"; the rest: {'; '.join(others)}" if others else "") +
               (f"; {len(summary) - len(measured)} not measured yet." if len(measured) < len(summary) else "."))
    return "\n".join(out) + "\n"


def machine():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    model = info.get("model name", platform.processor())
    if "cpu family" in info:
        model += f" (family {info['cpu family']} model {info.get('model', '?')})"
    return f"{platform.machine()} {os.cpu_count()} cores, {model}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--token", default=os.environ.get("SIMMIMD_TOKEN"))
    ap.add_argument("--study", type=int, help="a study of the daemon at --url")
    ap.add_argument("--saved", action="append", default=[],
                    help="a study saved earlier (PREFIX.json); repeatable")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "findings-fmnist"))
    ap.add_argument("--next", metavar="FILE",
                    help="also write the POST /api/v1/studies body of the cells still missing")
    args = ap.parse_args()
    studies = [fetch(args.url, args.token, f"/api/v1/studies/{args.study}")] if args.study else []
    for path in args.saved:
        with open(path) as f:
            saved = json.load(f)
        if studies and snapshot_of(saved, studies[0]):
            print(f"findings.py: {path} is an earlier rendering of study {args.study}: left out", file=sys.stderr)
            continue
        studies.append(saved)
    if not studies:
        sys.exit("findings.py: give --study, --saved or both")
    study = merge(studies)
    text = render(study)
    text += f"\nMachine: {machine()}; rendered {datetime.date.today()} by tests/bench/findings.py.\n"
    with open(args.out + ".md", "w") as f:
        f.write(text)
    with open(args.out + ".json", "w") as f:
        json.dump(study, f, indent=1)
    sys.stdout.write(text)
    if args.next:
        body = next_study(study)
        with open(args.next, "w") as f:
            json.dump(body, f, indent=1)
        sys.stdout.write(f"\n{args.next}: " + (f"{len(body['axes'][0]['values'])} cells still to run"
                                                f"{' and the baseline' if body['baseline'] else ''}"
                                                if body else "nothing left to run (null)") + "\n")


if __name__ == "__main__":
    main()
