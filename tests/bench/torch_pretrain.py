#!/usr/bin/python3
"""SimMIM pretraining on Fashion-MNIST in PyTorch, for comparing loss curves with simmimd's.

The golden tests prove one step of the C core equals PyTorch's; this runs the whole recipe —
the golden model, initialisation, parameter groups and schedule (tests/golden/simmim_torch.py)
with docs/recipes.md's data pipeline (pad, normalise, RandomResizedCrop, flip, masks after the
crop) — so a gap between a simmimd loss curve and docs/recipes.md's can be placed: in our
implementation of the recipe (this script agrees with docs/recipes.md, simmimd does not) or in
the recipe's reference run (this script agrees with simmimd).

Run with Debian's PyTorch; prints the mean loss over each 10 steps, then each epoch's mean,
and records the run in tests/bench/results/torch_pretrain.json (replacing one of the same seed
and schedule), which quality.py's table sets beside docs/recipes.md's curve and simmimd's:
  /usr/bin/python3 tests/bench/torch_pretrain.py --epochs 10 --stop-after 6 --seed 0
"""

import argparse
import datetime
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "golden"))
import simmim_torch as st  # noqa: E402
from quality import machine, replace_result  # noqa: E402

MEAN, STD = 0.2860, 0.3530  # docs/recipes.md "Data"
BATCH, LR, WEIGHT_DECAY, CLIP = 256, 1e-3, 0.05, 5.0  # both recipes
CROP_SCALE, MIN_LR = (0.67, 1.0), 1e-5  # pretraining's


def load_split(data_dir, split):
    """One split ("train" or "t10k") as (images [N, 1, 32, 32]: pixel/255, zero-padded to
    32×32, normalised; labels [N])."""
    with gzip.open(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    imgs = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float32) / 255
    x = torch.from_numpy(np.pad(imgs, ((0, 0), (2, 2), (2, 2))))
    with gzip.open(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz")) as f:
        labels = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64))
    return ((x - MEAN) / STD).unsqueeze(1), labels


def random_resized_crop_flip(batch, scale):
    """docs/recipes.md's RandomResizedCrop back to the same size and a flip with probability ½:
    area a ~ U(scale), log aspect ~ U(log 3/4, log 4/3), side fractions w = min(1, √(a·r)),
    h = min(1, √(a/r)), centre uniform where the crop fits; bilinear, align_corners=False,
    border replication (an affine sampling grid does exactly that)."""
    n = batch.shape[0]
    area = torch.empty(n).uniform_(*scale)
    aspect = torch.exp(torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3)))
    w = torch.clamp(torch.sqrt(area * aspect), max=1.0)
    h = torch.clamp(torch.sqrt(area / aspect), max=1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = w * torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
    theta[:, 0, 2] = (torch.rand(n) * 2 - 1) * (1 - w)
    theta[:, 1, 1] = h
    theta[:, 1, 2] = (torch.rand(n) * 2 - 1) * (1 - h)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="border", align_corners=False)


def parse_run_args(ap, results_name):
    """Adds the options every PyTorch run has, parses, and seeds torch."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default=os.path.join(HERE, "results", results_name))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return args


def train_step(model, opt, inputs, target, step, min_lr, steps_per_epoch, total):
    """One AdamW step at the schedule's lr for step (warmup one epoch), gradients clipped;
    returns the loss."""
    st.set_lr(opt, step, LR, min_lr, steps_per_epoch, total)
    loss, _ = model(inputs, target)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    opt.step()
    return loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10, help="the schedule's length")
    ap.add_argument("--stop-after", type=int, default=0, metavar="EPOCHS",
                    help="stop after this many epochs of the schedule (0 = all)")
    args = parse_run_args(ap, "torch_pretrain.json")

    images, _ = load_split(args.data, "train")
    cfg = st.Config()
    model = st.init_weights(st.SimMIMViT(cfg), args.seed)
    opt = torch.optim.AdamW(st.param_groups(model, LR, WEIGHT_DECAY, 1.0), lr=LR,
                            betas=(0.9, 0.999), weight_decay=WEIGHT_DECAY)
    steps_per_epoch = images.shape[0] // BATCH  # the partial batch dropped
    total = steps_per_epoch * args.epochs
    epochs = args.stop_after or args.epochs
    epoch_means, every_10_steps, start = [], [], time.time()
    for epoch in range(epochs):
        order = torch.randperm(images.shape[0])
        losses = []
        for i in range(steps_per_epoch):
            step = epoch * steps_per_epoch + i
            batch = random_resized_crop_flip(images[order[i * BATCH:(i + 1) * BATCH]], CROP_SCALE)
            losses.append(train_step(model, opt, batch, st.random_mask(BATCH, cfg), step, MIN_LR,
                                     steps_per_epoch, total))
            if (step + 1) % 10 == 0:
                every_10_steps.append(round(sum(losses[-10:]) / 10, 4))
                print(json.dumps({"step": step + 1, "loss": every_10_steps[-1],
                                  "elapsed_s": round(time.time() - start)}), flush=True)
        epoch_means.append(round(sum(losses) / len(losses), 4))
        print(json.dumps({"epoch": epoch + 1, "loss": epoch_means[-1]}), flush=True)
    run = {"seed": args.seed, "epochs": args.epochs, "pretrain_loss_by_epoch": epoch_means,
           "loss_by_10_steps": every_10_steps, "wall_s": round(time.time() - start),
           "threads": args.threads, "torch": torch.__version__,
           "date": datetime.date.today().isoformat(), "machine": machine()}
    print(json.dumps({k: run[k] for k in ("seed", "epochs", "pretrain_loss_by_epoch")}))
    replace_result(args.out, run, ("seed", "epochs"))


if __name__ == "__main__":
    main()
