"""Where a training step's time goes, per op: reads `perf script` output of a bench_step run
recorded with call graphs (tests/bench/profile.sh), charges each sample to the innermost core
op on its stack (a matrix product's OpenBLAS time to the op that called it), and prints per
op its share of the step and milliseconds per step, one column per run so that two builds
(before/after) sit side by side; for a Swin, a last line per run sums window attention's ops
(WINDOW_ATTENTION), which make bench reads.
Usage: profile.py LABEL=PERF_SCRIPT_FILE:IMG_PER_S:BATCH ..."""
import bisect
import collections
import re
import sys

# The ops a step is made of (core/ops/ops.h, core/train/optim.h, the masker); a sample whose stack holds
# none of them but one of STEP's frames is the step's own glue.
OPS = re.compile(r"^(\w+_(forward|backward)|adamw_step|clip_grad_norm|simmim_mask|model_zero_grad)$")
STEP = {"model_forward", "model_backward", "vit_forward", "vit_backward"}
# A Swin block's window attention: the attention kernels over every window of every image and
# head, the relative position bias, and the windows cut from the grid and put back.
WINDOW_ATTENTION = {"attention_forward", "attention_backward", "relative_bias_forward",
                    "relative_bias_backward", "window_partition_forward", "window_partition_backward",
                    "window_reverse_forward", "window_reverse_backward"}


def samples(path):
    """Yields (tid, time, [symbols from leaf to root]) per sample."""
    tid, time, stack = None, 0.0, []
    for line in open(path, errors="replace"):
        if not line.strip():
            if tid is not None:
                yield tid, time, stack
            tid, stack = None, []
        elif not line.startswith("\t"):
            tid, time = line.split()[0], float(line.split()[1].rstrip(":"))
        else:
            parts = line.split(None, 1)
            stack.append(parts[1].strip() if len(parts) > 1 else "?")
    if tid is not None:
        yield tid, time, stack


def charge(path):
    """op → samples, counting only samples taken inside the steps' ops, plus the worker
    threads' samples outside any parallel region (OpenMP waiting at barriers: poor scaling shows
    here). A worker's stack holds only the parallel region's outlined function (matmul_rows.
    _omp_fn.0, a helper's, not the op's), so a worker sample inside one is charged to the op the
    main thread was in at the nearest moment. Page faults are left out: they are the first touch
    of the activations in the warm-up steps, once per run, not part of a step."""
    counts, main_tid, main_ops, workers = collections.Counter(), None, [], []
    for tid, time, stack in samples(path):
        main_tid = main_tid or tid
        in_region = any("._omp_fn." in s for s in stack)
        names = [re.sub(r"\._omp_fn\.\d+$", "", s.split("+")[0]) for s in stack]
        if "asm_exc_page_fault" in names:
            continue
        op = next((n for n in names if OPS.match(n)), None)
        if tid == main_tid:
            main_ops.append((time, op))
            if op:
                counts[op] += 1
            elif STEP & set(names):
                counts["(step glue)"] += 1
        elif "start_thread" in names and "main" not in names:
            workers.append((time, op, in_region))
    times = [t for t, _ in main_ops]
    for time, op, in_region in workers:
        if not op and in_region and times:
            i = bisect.bisect_left(times, time)
            nearest = min((j for j in (i - 1, i) if 0 <= j < len(times)), key=lambda j: abs(times[j] - time))
            op = main_ops[nearest][1] or "(step glue)"
        counts[op or "(worker thread waiting)"] += 1
    return counts


def main():
    runs = []
    for arg in sys.argv[1:]:
        label, rest = arg.split("=", 1)
        path, img_per_s, batch = rest.rsplit(":", 2)
        runs.append((label, charge(path), int(batch) / float(img_per_s) * 1000))
    ops = sorted({op for _, c, _ in runs for op in c}, key=lambda op: -runs[-1][1][op])
    print(f"{'op':<28}" + "".join(f"{label + ' ms':>14}{'%':>7}" for label, _, _ in runs))
    for op in ops:
        cells = ""
        for _, counts, step_ms in runs:
            share = counts[op] / sum(counts.values())
            cells += f"{share * step_ms:>14.1f}{100 * share:>6.1f}%"
        print(f"{op:<28}{cells}")
    print(f"{'step (measured)':<28}" + "".join(f"{ms:>14.1f}{'':>7}" for _, _, ms in runs))
    for label, counts, step_ms in runs:
        if not counts.keys() & {"window_partition_forward", "window_reverse_forward"}:
            continue
        total = sum(counts.values())
        windows = sum(counts[op] for op in WINDOW_ATTENTION) / total
        kernels = (counts["attention_forward"] + counts["attention_backward"]) / total
        print(f"window attention ({label}): {100 * windows:.1f}% of the step, {windows * step_ms:.0f} ms "
              f"(the attention kernels {100 * kernels:.1f}%, the relative bias and the windows' "
              f"partition and reverse the rest)")


main()
