#!/usr/bin/python3
"""The table of `make bench-data` (tests/bench/bench_data.sh) from its JSON lines: per image set
and number of decode workers, simmimd's streamed decode beside PyTorch's DataLoader (median
img/s over the rounds, per worker and per CPU-second, and the medians of the per-round ratios
with their range, against issue 26's ≥ 1.5× per worker); the peak RSS of streamed pretrainings on the small and
the large set (their difference against < 5%); streamed simmim-train beside the synthetic
step (bench_step) per precision (the median per-round ratio against ≥ 0.9×).

Usage: report_data.py build/bench/data/results.jsonl"""
import json
import statistics
import sys


def med(values):
    return statistics.median(values) if values else None


def ratio_text(ratios):
    if not ratios:
        return "—"
    return f"{med(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    lines = []
    sets = [r for r in rows if r.get("tool") in ("make_images", "make_photos")]
    if sets:
        lines += ["Image sets:", ""]
        for r in sets:
            lines.append(f"- {r.get('set', r.get('out'))}: {r.get('images', r.get('train', 0) + r.get('test', 0))} "
                         f"JPEGs, mean {r['mean_bytes'] / 1000:.1f} KB, {r['bits_per_pixel']:.2f} bits/pixel")
        lines.append("")

    tput = [r for r in rows if r.get("check") == "throughput" and "img_per_s" in r]
    if tput:
        fmt = (lambda x: "—" if x is None else f"{x:.1f}")
        lines += ["Decoded-and-augmented images at 224 (training view), medians over rounds. Per worker: "
                  "images/s of wall time divided by the workers; per CPU-second: images over the CPU time "
                  "the decode threads or worker processes spent (what a worker does when it has a core, "
                  "whatever else the machine runs).", "",
                  "| set | workers | simmimd img/s | per worker | per CPU-s | full decode per CPU-s "
                  "| PyTorch img/s | per worker | per CPU-s | ratio per worker, median (range) "
                  "| ratio per CPU-s, median (range) | ≥ 1.5x |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        keys = sorted({(r["set"], r["workers"]) for r in tput}, key=lambda k: (k[0], k[1]))
        for key in keys:
            mine = [r for r in tput if (r["set"], r["workers"]) == key]
            ours = {r["round"]: r for r in mine if r["impl"] != "pytorch-dataloader" and not r.get("full_decode")}
            full = [r.get("img_per_cpu_s") for r in mine if r.get("full_decode") and r.get("img_per_cpu_s")]
            torch = {r["round"]: r for r in mine if r["impl"] == "pytorch-dataloader"}
            ratios = [ours[k]["img_per_s"] / torch[k]["img_per_s"] for k in ours if k in torch]
            cpu_ratios = [ours[k]["img_per_cpu_s"] / torch[k]["img_per_cpu_s"] for k in ours
                          if k in torch and ours[k].get("img_per_cpu_s") and torch[k].get("img_per_cpu_s")]
            w = max(key[1], 1)
            o, t = med([r["img_per_s"] for r in ours.values()]), med([r["img_per_s"] for r in torch.values()])
            oc = med([r["img_per_cpu_s"] for r in ours.values() if r.get("img_per_cpu_s")])
            tc = med([r["img_per_cpu_s"] for r in torch.values() if r.get("img_per_cpu_s")])
            verdicts = [med(x) >= 1.5 for x in (ratios, cpu_ratios) if x]
            ok = "—" if not verdicts else ("yes" if all(verdicts) else "**no**" if not any(verdicts) else
                                          "per CPU-s only" if verdicts[-1] else "per worker only")
            lines.append(f"| {key[0]} | {key[1]} | {fmt(o)} | {fmt(o and o / w)} | {fmt(oc)} | {fmt(med(full))} "
                         f"| {fmt(t)} | {fmt(t and t / w)} | {fmt(tc)} | {ratio_text(ratios)} "
                         f"| {ratio_text(cpu_ratios)} | {ok} |")
        scales = [r for r in tput if r["impl"] == "simmimd-stream" and not r.get("full_decode")]
        if scales:
            s = scales[0]
            lines += ["", f"simmimd decoded {s['decoded_pixels_per_image']:.0f} of {s['source_pixels_per_image']:.0f} "
                      f"source pixels per image at a mean DCT scale of {s['mean_dct_scale']:.2f}/8 "
                      f"(first run; the crops are seeded, the same in every run)."]
        lines.append("")

    mem = [r for r in rows if r.get("check") == "memory" and "peak_rss_mb" in r]
    if mem:
        lines += ["Peak RSS of a streamed pretraining (data.cache_mb 0):", "",
                  "| set | images | peak RSS MB per round | median | data_path |", "|---|---|---|---|---|"]
        by = {}
        for r in mem:
            by.setdefault(r["set"], []).append(r)
        for name, runs in by.items():
            lines.append(f"| {name} | {runs[0]['images']} | {' / '.join(str(r['peak_rss_mb']) for r in runs)} "
                         f"| {med([r['peak_rss_mb'] for r in runs]):.1f} | {runs[0].get('data_path')} |")
        names = list(by)
        if len(names) == 2:
            small, large = (med([r["peak_rss_mb"] for r in by[n]]) for n in names)
            diff = (large - small) / small
            lines += ["", f"{names[1]} vs {names[0]}: {100 * diff:+.1f}% (< 5%: {'yes' if abs(diff) < 0.05 else '**no**'})"]
        lines.append("")

    cost = [r for r in rows if r.get("check") == "cost" and "img_per_s" in r]
    if cost:
        lines += ["Streamed simmim-train beside the synthetic step (bench_step), vit-t16-224:", "",
                  "| precision | bench_step img/s | simmim-train streamed img/s | data wait share "
                  "| trainer's share of the cores | ratio median (range) | ≥ 0.9x |",
                  "|---|---|---|---|---|---|---|"]
        for precision in sorted({r["precision"] for r in cost}):
            step = {r["round"]: r for r in cost if r["precision"] == precision and r["impl"] == "simmimd"}
            train = {r["round"]: r for r in cost if r["precision"] == precision and r["impl"] == "simmimd-trainer-stream"}
            ratios = [train[k]["img_per_s"] / step[k]["img_per_s"] for k in train if k in step]
            ok = "—" if not ratios else ("yes" if med(ratios) >= 0.9 else "**no**")
            wait = med([r["data_wait_share"] for r in train.values() if r.get("data_wait_share") is not None])
            share = med([r["cpu_share"] for r in train.values() if r.get("cpu_share") is not None])
            lines.append(f"| {precision} | {med([r['img_per_s'] for r in step.values()]) or 0:.1f} "
                         f"| {med([r['img_per_s'] for r in train.values()]) or 0:.1f} "
                         f"| {'—' if wait is None else f'{100 * wait:.1f}%'} "
                         f"| {'—' if share is None else f'{share:.2f}'} | {ratio_text(ratios)} | {ok} |")
        lines.append("")
    skipped = [r for r in rows if "skipped" in r]
    for r in skipped:
        lines.append(f"skipped {r.get('check')} {r.get('precision', '')}: {r['skipped']}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
