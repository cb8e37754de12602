#!/usr/bin/python3
"""References for the representation probes of core/train/probe.c (docs/job-spec.md, eval.knn
and linprobe), in NumPy and PyTorch, in float64:

- knn_predict: DINO's weighted k-NN classifier (L2-normalized features, cosine similarity, the
  k most similar bank rows, ties to the lower bank index, votes exp(sim / T) summed most similar
  first, the class with most votes, ties to the lower class).
- linprobe: the features standardized with the training rows' mean and (population) std, then
  multinomial logistic regression, mean cross-entropy + (weight_decay / 2)·‖W‖² (bias not
  decayed), solved by PyTorch's L-BFGS with a strong-Wolfe line search to a gradient of 1e-10:
  another solver of the same convex problem.

Run with Debian's PyTorch (/usr/bin/python3):
  probe_reference.py fixtures [OUT_DIR]     writes probe_knn and probe_linear fixtures
                                            (make fixtures; tests/unit/train/test_probe.c)
  probe_reference.py knn FILE               top-1 of the k-NN on a simmim-train
                                            --dump-features knn-step-N.safetensors, and how
                                            many queries sit within float32 rounding of a tie
  probe_reference.py linprobe FILE WD       the reference top-1 on a linprobe.safetensors dump
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import OUT_DIR, read_safetensors, write_safetensors  # noqa: E402

# A query whose k-th and (k+1)-th similarities, or whose two best classes' votes, differ by
# less than this (relative) could be decided either way by float32 rounding of the similarity.
FRAGILE = 1e-5


def normalize(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_predict(bank, bank_labels, queries, k, temperature, classes):
    """Predictions and, per query, whether float32 rounding could change it."""
    bank, queries = normalize(bank), normalize(queries)
    labels = np.asarray(bank_labels, dtype=np.int64)
    k = min(k, len(bank))
    sims = queries @ bank.T
    index = np.arange(len(bank))
    predictions, fragile = [], []
    for s in sims:
        order = np.lexsort((index, -s))  # similarity descending, then the lower index
        votes = np.zeros(classes)
        for j in order[:k]:
            votes[labels[j]] += np.exp(s[j] / temperature)
        best = int(np.argmax(votes))  # the first of equal maxima: the lower class
        top2 = np.sort(votes)[-2:] if classes > 1 else np.array([0.0, votes[0]])
        near_edge = k < len(bank) and s[order[k - 1]] - s[order[k]] < FRAGILE
        near_tie = top2[1] - top2[0] < FRAGILE * top2[1]
        predictions.append(best)
        fragile.append(bool(near_edge or near_tie))
    return np.array(predictions), np.array(fragile)


def standardize(train, test):
    train = np.asarray(train, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    mean = train.mean(axis=0)
    sd = np.sqrt(((train - mean) ** 2).mean(axis=0))
    scale = np.where(sd > 0, 1.0 / np.where(sd > 0, sd, 1.0), 1.0)
    return (train - mean) * scale, (test - mean) * scale


def linprobe(train, train_labels, test, test_labels, weight_decay, classes):
    """The reference classifier: (top-1 in percent, objective, test mean cross-entropy)."""
    x, xt = standardize(train, test)
    x, xt = torch.from_numpy(x), torch.from_numpy(xt)
    y = torch.as_tensor(np.asarray(train_labels), dtype=torch.int64)
    yt = torch.as_tensor(np.asarray(test_labels), dtype=torch.int64)
    w = torch.zeros(classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=4000, tolerance_grad=1e-9,
                            tolerance_change=1e-13, history_size=20, line_search_fn="strong_wolfe")

    def objective():
        opt.zero_grad()
        f = torch.nn.functional.cross_entropy(x @ w.T + b, y) + 0.5 * weight_decay * (w * w).sum()
        f.backward()
        return f

    opt.step(objective)
    f = float(objective())
    with torch.no_grad():
        logits = xt @ w.T + b
        top1 = 100.0 * float((logits.argmax(dim=1) == yt).double().mean())
        loss = float(torch.nn.functional.cross_entropy(logits, yt))
    return top1, f, loss


# ------------------------------------------------------------------------------- fixtures


def clustered(rng, centres, n, spread):
    """n points around the centres (labels uniform), as float32, and their labels."""
    labels = rng.integers(0, len(centres), size=n)
    points = centres[labels] + spread * rng.normal(size=(n, centres.shape[1]))
    return points.astype(np.float32), labels


def as_float_tensor(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float32))


KNN_SETTINGS = [(20, 0.07), (5, 0.5), (1, 0.07)]  # (k, temperature)


def make_knn_fixture(path):
    """Raw features (test_probe.c normalizes them with probe_l2_normalize) and the expected
    predictions of each setting; the first seed whose every query is clear of float32 ties."""
    for seed in range(100):
        rng = np.random.default_rng(seed)
        centres = rng.normal(size=(7, 24))
        bank, bank_labels = clustered(rng, centres, 600, 1.6)
        test, test_labels = clustered(rng, centres, 200, 1.6)
        results = [knn_predict(bank, bank_labels, test, k, t, 7) for k, t in KNN_SETTINGS]
        if not any(f.any() for _, f in results):
            break
    tensors = [("bank_features", as_float_tensor(bank)), ("bank_labels", as_float_tensor(bank_labels)),
               ("test_features", as_float_tensor(test)), ("test_labels", as_float_tensor(test_labels))]
    meta = {"classes": 7, "seed": seed}
    for i, ((k, t), (pred, _)) in enumerate(zip(KNN_SETTINGS, results)):
        tensors.append((f"predictions_{i}", as_float_tensor(pred)))
        meta[f"k_{i}"], meta[f"temperature_{i}"] = k, repr(t)
        meta[f"top1_{i}"] = repr(100.0 * float((pred == test_labels).mean()))
    return write_safetensors(path, tensors, meta)


def make_linear_fixture(path, weight_decay=1e-3):
    """Overlapping classes (the optimum is not separable), features of unequal scales and an
    offset (what the standardization is for)."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(10, 16))
    scales = np.exp(rng.normal(size=16))
    x, y = clustered(rng, centres, 4000, 1.3)
    x = (x * scales + 3.0).astype(np.float32)
    top1, objective, loss = linprobe(x[:2000], y[:2000], x[2000:], y[2000:], weight_decay, 10)
    tensors = [("train_features", as_float_tensor(x[:2000])), ("train_labels", as_float_tensor(y[:2000])),
               ("test_features", as_float_tensor(x[2000:])), ("test_labels", as_float_tensor(y[2000:]))]
    meta = {"classes": 10, "weight_decay": repr(weight_decay), "top1": repr(top1),
            "objective": repr(objective), "val_loss": repr(loss)}
    return write_safetensors(path, tensors, meta)


# ------------------------------------------------------------------------------- dumps


def load(path):
    tensors, meta = read_safetensors(path)
    return {k: v.numpy() for k, v in tensors.items()}, meta


def main():
    torch.set_num_threads(1)
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "fixtures":
        out = sys.argv[2] if len(sys.argv) > 2 else OUT_DIR
        os.makedirs(out, exist_ok=True)
        make_knn_fixture(os.path.join(out, "probe_knn.safetensors"))
        make_linear_fixture(os.path.join(out, "probe_linear.safetensors"))
    elif mode == "knn" and len(sys.argv) == 3:
        t, meta = load(sys.argv[2])
        pred, fragile = knn_predict(t["bank_features"], t["bank_labels"].astype(np.int64),
                                    t["test_features"], int(meta["k"]), float(meta["temperature"]),
                                    int(meta["classes"]))
        top1 = 100.0 * float((pred == t["test_labels"].astype(np.int64)).mean())
        print(f"{top1!r} {int(fragile.sum())} {meta['knn_top1']}")
    elif mode == "linprobe" and len(sys.argv) == 4:
        t, _ = load(sys.argv[2])
        classes = int(max(t["train_labels"].max(), t["test_labels"].max())) + 1
        top1, objective, loss = linprobe(t["train_features"], t["train_labels"].astype(np.int64),
                                         t["test_features"], t["test_labels"].astype(np.int64),
                                         float(sys.argv[3]), classes)
        print(f"{top1!r} {objective!r} {loss!r}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
