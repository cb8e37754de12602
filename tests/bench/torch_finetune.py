#!/usr/bin/python3
"""SimMIM fine-tuning on Fashion-MNIST in PyTorch, for comparing top-1 with simmimd's.

torch_pretrain.py does this for the pretraining loss; this runs docs/recipes.md's fine-tuning
recipe (the golden model, initialisation, parameter groups with layer decay and schedule from
tests/golden/simmim_torch.py; drop path, label smoothing, the data pipeline with crop scale
[0.6, 1]) from random initialisation or from a simmimd pretraining checkpoint. Started from the
checkpoint a simmimd fine-tune started from, on the same labelled images (labels_per_class
takes the first K of each class, as the job spec does), it places a gap between a simmimd
top-1 and docs/recipes.md's: in simmimd's fine-tuning (this script agrees with docs/recipes.md, simmimd
does not) or in what it starts from and the seed (this script agrees with simmimd).

Prints the test-set top-1 every --eval-every epochs and after the last (docs/recipes.md reports
epochs 5/10/15/20; a pass over the test set takes about as long as an epoch on 6,000 labels)
and records the run in tests/bench/results/torch_finetune.json (replacing one of the same
recipe, seed and start),
which quality.py's table sets beside simmimd's. --evaluate instead prints PyTorch's top-1 of a
simmimd fine-tuning checkpoint (the same figure simmimd reported, if both evaluate alike):
  /usr/bin/python3 tests/bench/torch_finetune.py --recipe simmim-p5-ft20-6k \\
      --init /var/tmp/quality/runs/1/checkpoints/step-1170.safetensors --epochs 20 \\
      --labels-per-class 600 --seed 0
  /usr/bin/python3 tests/bench/torch_finetune.py --evaluate /var/tmp/quality/runs/2/checkpoints/step-460.safetensors
"""

import argparse
import datetime
import json
import os
import struct
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "golden"))
import simmim_torch as st  # noqa: E402
from quality import machine, replace_result  # noqa: E402
from torch_pretrain import (BATCH, LR, WEIGHT_DECAY, load_split, parse_run_args,  # noqa: E402
                            random_resized_crop_flip, train_step)

CROP_SCALE, MIN_LR = (0.6, 1.0), 1e-6  # fine-tuning's
NUM_CLASSES, DROP_PATH, LABEL_SMOOTHING = 10, 0.1, 0.1


def read_safetensors(path):
    """The tensors of a safetensors file (F32 only, as simmimd writes them) and its metadata."""
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {t['dtype']}, not F32")
        begin, end = t["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[begin:end], np.float32).copy()).reshape(t["shape"])
    return tensors, metadata


def load_encoder(model, path):
    """The checkpoint's encoder into the classifier; fc_norm and head keep their initialisation
    (the pretraining's norm, mask token and decoder are not part of it, as in simmimd).
    Returns the checkpoint's metadata."""
    tensors, metadata = read_safetensors(path)
    missing, unused = model.load_state_dict(tensors, strict=False)
    if sorted(missing) != ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]:
        sys.exit(f"{path}: the encoder is incomplete; missing {missing}")
    print(json.dumps({"init": path, "unused": sorted(unused), "step": metadata.get("step")}), flush=True)
    return metadata


def first_per_class(labels, per_class):
    """Indices of the first per_class images of each class in dataset order (all for 0)."""
    if per_class == 0:
        return torch.arange(labels.shape[0])
    return torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in range(NUM_CLASSES)]).sort().values


@torch.no_grad()
def top1(model, images, labels):
    model.eval()
    correct = sum(int((model.forward_logits(images[i:i + 1000]).argmax(1) == labels[i:i + 1000]).sum())
                  for i in range(0, images.shape[0], 1000))
    model.train()
    return round(100.0 * correct / images.shape[0], 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", help="the quality.py recipe this run stands beside")
    ap.add_argument("--evaluate", metavar="CHECKPOINT", help="a simmimd fine-tuning checkpoint to evaluate")
    ap.add_argument("--init", help="a simmimd pretraining checkpoint (.safetensors); none = scratch")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--labels-per-class", type=int, default=0)
    ap.add_argument("--layer-decay", type=float, default=0.75)
    ap.add_argument("--eval-every", type=int, default=5, metavar="EPOCHS")
    args = parse_run_args(ap, "torch_finetune.json")
    cfg = st.Config(num_classes=NUM_CLASSES, drop_path=DROP_PATH, label_smoothing=LABEL_SMOOTHING)
    test_images, test_labels = load_split(args.data, "t10k")
    if args.evaluate:
        model = st.SimMIMViT(cfg)
        model.load_state_dict(read_safetensors(args.evaluate)[0])  # strict: every tensor, nothing else
        print(json.dumps({"checkpoint": args.evaluate, "top1": top1(model, test_images, test_labels)}))
        return
    if not args.recipe:
        ap.error("name the --recipe this run stands beside (or --evaluate a checkpoint)")

    train_images, train_labels = load_split(args.data, "train")
    chosen = first_per_class(train_labels, args.labels_per_class)
    train_images, train_labels = train_images[chosen], train_labels[chosen]
    model = st.init_weights(st.SimMIMViT(cfg), args.seed)
    start_from = {"init": None, "init_job": None, "init_step": None}
    if args.init:
        metadata = load_encoder(model, args.init)
        # A checkpoint written by simmim-train outside the daemon has no job.
        job = metadata.get("job_id")
        start_from = {"init": args.init, "init_job": job and int(job), "init_step": int(metadata["step"])}
    model.train()
    opt = torch.optim.AdamW(st.param_groups(model, LR, WEIGHT_DECAY, args.layer_decay), lr=LR,
                            betas=(0.9, 0.999), weight_decay=WEIGHT_DECAY)
    steps_per_epoch = train_images.shape[0] // BATCH  # the partial batch dropped
    total = steps_per_epoch * args.epochs
    top1_by_epoch, start = {}, time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(train_images.shape[0])
        losses = []
        for i in range(steps_per_epoch):
            idx = order[i * BATCH:(i + 1) * BATCH]
            losses.append(train_step(model, opt, random_resized_crop_flip(train_images[idx], CROP_SCALE),
                                     train_labels[idx], epoch * steps_per_epoch + i, MIN_LR,
                                     steps_per_epoch, total))
        report = {"epoch": epoch + 1, "loss": round(sum(losses) / len(losses), 4)}
        if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:
            report["top1"] = top1_by_epoch[epoch + 1] = top1(model, test_images, test_labels)
        print(json.dumps(dict(report, elapsed_s=round(time.time() - start))), flush=True)
    run = {"recipe": args.recipe, "seed": args.seed, **start_from, "epochs": args.epochs,
           "labels_per_class": args.labels_per_class, "layer_decay": args.layer_decay,
           "top1": top1_by_epoch[args.epochs], "top1_by_epoch": top1_by_epoch,
           "wall_s": round(time.time() - start), "threads": args.threads, "torch": torch.__version__,
           "date": datetime.date.today().isoformat(), "machine": machine()}
    print(json.dumps({k: run[k] for k in ("recipe", "seed", "top1")}))
    replace_result(args.out, run, ("recipe", "seed", "init"))


if __name__ == "__main__":
    main()
