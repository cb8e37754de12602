"""Formats build/bench/results.jsonl (written by tests/bench/bench.sh) as a table: per config
the median img/s of each side over the rounds, and the median of the per-round ratios (each
round ran the sides back to back, so they saw the same machine load). A config at a precision
other than fp32 also has the ratio of our step over our fp32 step in the same rounds. A config
with a SimMIM head (its sixth field) also has, in a second table, the head's cost: the median of
the per-round ratios of the linear/l1 step's img/s (the rows bench.sh marks "base", run in the
same round) over the head's, for our step and for PyTorch's, i.e. how many times longer a step
with that head takes."""
import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
threads = max(r["threads"] for r in rows if "sgemm_gflops" in r)
peak = {t: max(r["sgemm_gflops"] for r in rows if r.get("threads") == t and "sgemm_gflops" in r)
        for t in {r["threads"] for r in rows if "sgemm_gflops" in r}}


def config_of(r):
    """The BENCH_CONFIGS entry a row belongs to; rows from before bench.sh named it have
    preset:kind:batch."""
    return r.get("config") or f"{r['preset']}:{r['kind']}:{r['batch']}"


def precision_of(config):
    """A config's precision: its optional fifth field (empty: fp32)."""
    fields = config.split(":")
    return fields[4] if len(fields) > 4 and fields[4] else "fp32"


def head_of(config):
    """A config's SimMIM head: its optional sixth field ("" = linear/l1)."""
    fields = config.split(":")
    return fields[5] if len(fields) > 5 else ""


def side(impl, config, nthreads=threads, precision="fp32", base=False):
    """round → row, for one implementation of one config at one precision; base: the
    linear/l1 rows run beside a head config's."""
    return {r["round"]: r for r in rows if r.get("impl") == impl and r.get("threads") == nthreads
            and config_of(r) == config and r.get("precision", "fp32") == precision
            and bool(r.get("base")) == base}


def median_of(by_round, field="img_per_s"):
    return statistics.median(r[field] for r in by_round.values()) if by_round else None


def ratio(num, den):
    """Median and range of the per-round ratios num/den, over rounds both sides ran."""
    rs = sorted(num[k]["img_per_s"] / den[k]["img_per_s"] for k in num if k in den)
    return (statistics.median(rs), rs[0], rs[-1]) if rs else None


def fmt(value, spec, none="-"):
    return none if value is None else format(value, spec)


def fmt_percent(value, spec):
    return "-" if value is None else format(value, spec) + "%"


def fmt_ratio(r):
    return "-" if r is None else f"{r[0]:.2f}x ({r[1]:.2f}-{r[2]:.2f})"


configs = list(dict.fromkeys(config_of(r) for r in rows if r.get("impl") == "simmimd"))
print(f"\nsgemm peak measured here: {peak[threads]:.0f} GFLOP/s on {threads} threads"
      + (f", {peak[1]:.0f} on 1" if 1 in peak and threads != 1 else "")
      + "; GFLOP/s below = 3 x forward matmul FLOPs (2*M*N*K each, attention included) x img/s")
print("step = the training step on synthetic inputs; trainer = simmim-train through its loader on real "
      "images (Fashion-MNIST, or 256-px PNG/JPEG for 224- and 192-px configs); img/s = median over rounds; "
      "ratio = median (min-max) of per-round ratios against PyTorch's step in the same round")
if any(precision_of(c) != "fp32" for c in configs):
    print("bf16 rows: our step and simmim-train with bf16 matrix products; PyTorch's step under "
          "autocast to bfloat16 (its mixed precision); "
          "vs fp32 = median (min-max) of per-round ratios against our fp32 step in the same round; "
          "% peak is against the fp32 sgemm peak, so not given")
W = max([28] + [len(c.split(":")[0]) + len(c.split(":")[1]) + len(head_of(c)) + 8 for c in configs])
print(f"{'config':<{W}}{'batch':>6}{'step':>8}{'trainer':>9}{'pytorch':>9}{'step ratio':>20}{'vs fp32':>20}"
      f"{'trainer ratio':>20}{'loader':>8}{'GFLOP/s':>9}{'% peak':>8}{'RSS MB':>8}{'trainer':>9}{'torch':>7}")
print(f"{'':<{W}}{'':>6}{'img/s':>8}{'img/s':>9}{'img/s':>9}{'':>20}{'step':>20}{'':>20}{'wait':>8}{'':>9}{'':>8}"
      f"{'step':>8}{'RSS MB':>9}{'RSS':>7}")
scaling = []
for config in configs:
    precision = precision_of(config)
    preset, kind, batch = config.split(":")[:3]
    ours = side("simmimd", config, precision=precision)
    trainer = side("simmimd-trainer", config, precision=precision)
    torch = side("pytorch", config, precision=precision)
    fp32 = side("simmimd", config) if precision != "fp32" else {}
    one_thread = side("simmimd", config, 1, precision) if threads != 1 else {}
    step = median_of(ours)
    gflops = step * next(iter(ours.values()))["train_gflop_per_img"]
    percent = 100 * gflops / peak[threads] if precision == "fp32" else None
    wait = median_of(trainer, "data_wait_fraction")
    rss = lambda by_round: max((r["peak_rss_mb"] for r in by_round.values()), default=None)
    label = f"{preset} {kind}" + (f" {precision}" if precision != "fp32" else "") + \
        (f" {head_of(config)}" if head_of(config) else "")
    print(f"{label:<{W}}{batch:>6}{step:>8.1f}{fmt(median_of(trainer), '.1f'):>9}"
          f"{fmt(median_of(torch), '.1f'):>9}{fmt_ratio(ratio(ours, torch)):>20}"
          f"{fmt_ratio(ratio(ours, fp32)):>20}"
          f"{fmt_ratio(ratio(trainer, torch)):>20}{fmt_percent(wait and 100 * wait, '.2f'):>8}"
          f"{gflops:>9.1f}{fmt_percent(percent, '.0f'):>8}{rss(ours):>8.0f}"
          f"{fmt(rss(trainer), '.0f'):>9}{fmt(rss(torch), '.0f'):>7}")
    if one_thread:
        scaling.append((label, batch, median_of(one_thread), ratio(ours, one_thread)))
for r in rows:
    if "skipped" in r:
        print(f"skipped {r['config']}: {r['skipped']}")
    if "trainer_skipped" in r:
        print(f"simmim-train did not run {r['config']}: {r['trainer_skipped']}")
heads = [c for c in configs if head_of(c)]
if heads:
    print("\nSimMIM head cost: cost = median (min-max) of per-round ratios of the linear/l1 step's img/s "
          "(run in the same round) over the head's = how many times longer the step takes; "
          "FLOPs = the head config's matrix-product FLOPs over the linear/l1 one's; "
          "RSS = peak RSS of the step with the head (and with linear/l1)")
    print(f"{'config':<{W}}{'batch':>6}{'step':>8}{'linear':>8}{'pytorch':>9}{'step ratio':>20}"
          f"{'our cost':>20}{'pytorch cost':>20}{'FLOPs':>7}{'RSS MB':>13}{'torch RSS':>13}")
    print(f"{'':<{W}}{'':>6}{'img/s':>8}{'img/s':>8}{'img/s':>9}{'vs pytorch':>20}{'':>20}{'':>20}"
          f"{'':>7}{'head (l1)':>13}{'head (l1)':>13}")
    for config in heads:
        precision = precision_of(config)
        preset, kind, batch = config.split(":")[:3]
        ours, torch = side("simmimd", config, precision=precision), side("pytorch", config, precision=precision)
        ours_base = side("simmimd", config, precision=precision, base=True)
        torch_base = side("pytorch", config, precision=precision, base=True)
        rss = lambda by_round: max((r["peak_rss_mb"] for r in by_round.values()), default=None)
        flops = (next(iter(ours.values()))["train_gflop_per_img"] /
                 next(iter(ours_base.values()))["train_gflop_per_img"]) if ours and ours_base else None
        label = f"{preset} {kind}" + (f" {precision}" if precision != "fp32" else "") + f" {head_of(config)}"
        print(f"{label:<{W}}{batch:>6}{fmt(median_of(ours), '.1f'):>8}{fmt(median_of(ours_base), '.1f'):>8}"
              f"{fmt(median_of(torch), '.1f'):>9}{fmt_ratio(ratio(ours, torch)):>20}"
              f"{fmt_ratio(ratio(ours_base, ours)):>20}{fmt_ratio(ratio(torch_base, torch)):>20}"
              f"{fmt(flops, '.2f'):>7}{fmt(rss(ours), '.0f') + ' (' + fmt(rss(ours_base), '.0f') + ')':>13}"
              f"{fmt(rss(torch), '.0f') + ' (' + fmt(rss(torch_base), '.0f') + ')':>13}")
windows = [r for r in rows if "window_attention" in r]
if windows:
    print("\nwindow attention's share of our step (perf profile, tests/bench/profile.sh, after the rounds):")
    for r in windows:
        print(f"  {r['config']}: {r['window_attention'].split(': ', 1)[-1]}")
for label, batch, single, r in scaling:
    print(f"\nthread scaling, {label} batch {batch}: {single:.1f} img/s on 1 thread, "
          f"{threads} threads {fmt_ratio(r)} faster"
          + (f" (sgemm peak scales {peak[threads] / peak[1]:.2f}x)" if 1 in peak else ""))
