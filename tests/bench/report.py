"""Formats build/bench/results.jsonl (written by tests/bench/bench.sh) as a table."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
peak = max(r["sgemm_gflops"] for r in rows if "sgemm_gflops" in r)
ours = [r for r in rows if r.get("impl") == "simmimd"]
torch = {(r["preset"], r["kind"], r["batch"]): r for r in rows if r.get("impl") == "pytorch"}

print(f"\nsgemm peak measured here: {peak:.0f} GFLOP/s; GFLOP/s below = 3 x forward matmul FLOPs "
      "(2*M*N*K each, attention included) x img/s; img/s = median of the repetitions")
print(f"{'config':<24}{'batch':>6}{'simmimd img/s':>15}{'pytorch img/s':>15}{'ratio':>8}"
      f"{'GFLOP/s':>9}{'% peak':>8}{'RSS MB':>8}{'torch RSS':>10}")
for r in ours:
    t = torch.get((r["preset"], r["kind"], r["batch"]))
    gflops = r["img_per_s"] * r["train_gflop_per_img"]
    ratio = f"{r['img_per_s'] / t['img_per_s']:.2f}x" if t else "-"
    timg = f"{t['img_per_s']:.1f}" if t else "-"
    trss = f"{t['peak_rss_mb']:.0f}" if t else "-"
    print(f"{r['preset'] + ' ' + r['kind']:<24}{r['batch']:>6}{r['img_per_s']:>15.1f}{timg:>15}"
          f"{ratio:>8}{gflops:>9.1f}{100 * gflops / peak:>7.0f}%{r['peak_rss_mb']:>8.0f}{trss:>10}")
