"""Formats build/bench/results.jsonl (written by tests/bench/bench.sh) as a table."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
peak = max(r["sgemm_gflops"] for r in rows if "sgemm_gflops" in r)
ours = [r for r in rows if r.get("impl") == "simmimd"]
torch = {(r["preset"], r["kind"], r["batch"]): r for r in rows if r.get("impl") == "pytorch"}
trainer = {(r["preset"], r["kind"], r["batch"]): r for r in rows if r.get("impl") == "simmimd-trainer"}

print(f"\nsgemm peak measured here: {peak:.0f} GFLOP/s; GFLOP/s below = 3 x forward matmul FLOPs "
      "(2*M*N*K each, attention included) x img/s; img/s = median of the repetitions")
print("step = the training step on synthetic inputs; trainer = simmim-train through its loader on "
      "real images (Fashion-MNIST, or 256-px PNG/JPEG for 224 configs); ratios against PyTorch's step")
print(f"{'config':<24}{'batch':>6}{'step img/s':>12}{'trainer':>9}{'pytorch':>9}{'ratio':>7}{'trainer':>9}"
      f"{'loader':>8}{'GFLOP/s':>9}{'% peak':>8}{'RSS MB':>8}{'trainer':>9}{'torch':>7}")
print(f"{'':<24}{'':>6}{'':>12}{'img/s':>9}{'img/s':>9}{'step':>7}{'ratio':>9}{'wait':>8}{'':>9}{'':>8}{'step':>8}{'RSS MB':>9}{'RSS':>7}")
def fmt(value, spec, none="-"):
    return none if value is None else format(value, spec)


for r in ours:
    key = (r["preset"], r["kind"], r["batch"])
    t, tr = torch.get(key, {}), trainer.get(key, {})
    gflops = r["img_per_s"] * r["train_gflop_per_img"]
    ratio = r["img_per_s"] / t["img_per_s"] if t else None
    tr_ratio = tr["img_per_s"] / t["img_per_s"] if t and tr else None
    wait = 100 * tr["data_wait_fraction"] if tr else None
    print(f"{r['preset'] + ' ' + r['kind']:<24}{r['batch']:>6}{r['img_per_s']:>12.1f}"
          f"{fmt(tr.get('img_per_s'), '.1f'):>9}{fmt(t.get('img_per_s'), '.1f'):>9}"
          f"{fmt(ratio, '.2f') + 'x':>7}{fmt(tr_ratio, '.2f') + 'x':>9}{fmt(wait, '.2f') + '%':>8}"
          f"{gflops:>9.1f}{100 * gflops / peak:>7.0f}%{r['peak_rss_mb']:>8.0f}"
          f"{fmt(tr.get('peak_rss_mb'), '.0f'):>9}{fmt(t.get('peak_rss_mb'), '.0f'):>7}")
