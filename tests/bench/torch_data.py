#!/usr/bin/python3
"""PyTorch's side of the data benchmark (issue 26, `make bench-data`): decoded-and-augmented
images/s of torch.utils.data.DataLoader over torchvision's ImageFolder with SimMIM's reference
pretraining transform (microsoft/SimMIM data/data_simmim.py, the mask generator left out:
simmimd draws masks in the trainer, not in its decode threads):

    Lambda(convert to RGB), RandomResizedCrop(224, scale=(0.67, 1.), ratio=(3/4, 4/3)),
    RandomHorizontalFlip(), ToTensor(), Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)

with W worker processes (each on one thread, as DataLoader sets them) collating batches of B.
ImageFolder reads each file with PIL (Image.open + convert: the whole image decoded at full
resolution; RandomResizedCrop then crops and resizes it with PIL's bilinear filter).

Timing: the arrival time of every batch is recorded; the workers' first batches arrive in a
burst (each worker runs prefetch_factor batches ahead while the main process starts), so the
rate is taken from the arrival of batch 2·W + 2 (after the burst) to the last:
images/s = B · (batches counted) / seconds. --images is rounded up to whole batches; the
sampler draws from the training images at random (a new permutation each pass). With W ≥ 1,
also the CPU time of the worker processes (user + system, from getrusage(RUSAGE_CHILDREN)
once they have exited) over every image they decoded, burst included: images per
CPU-second, a worker's speed whatever else the machine runs.

Run with Debian's PyTorch and torchvision (python3-torch, python3-torchvision):
  /usr/bin/python3 tests/bench/torch_data.py --data build/bench/jpegs --workers 2
DIR holding train/<class>/ is read from DIR/train, otherwise DIR itself is the ImageFolder
root. Prints one JSON line:
{"impl": "pytorch-dataloader", "data", "workers", "batch", "img_size", "images", "seconds",
 "img_per_s", "img_per_s_per_worker", "cpu_s", "img_per_cpu_s", "torch", "torchvision", "pil"}"""
import argparse
import json
import os
import resource
import time

import PIL
import torch
import torchvision
from torch.utils.data import DataLoader, RandomSampler
from torchvision import datasets, transforms

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)


def to_rgb(img):
    return img.convert("RGB") if img.mode != "RGB" else img


def reference_transform(img_size):
    return transforms.Compose([
        transforms.Lambda(to_rgb),
        transforms.RandomResizedCrop(img_size, scale=(0.67, 1.), ratio=(3. / 4., 4. / 3.)),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(mean=torch.tensor(IMAGENET_DEFAULT_MEAN), std=torch.tensor(IMAGENET_DEFAULT_STD)),
    ])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--images", type=int, default=1024, help="images to time (after the first batches)")
    ap.add_argument("--img-size", type=int, default=224)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)  # the main process only receives batches; W = 0 decodes here
    root = os.path.join(a.data, "train") if os.path.isdir(os.path.join(a.data, "train")) else a.data
    ds = datasets.ImageFolder(root, transform=reference_transform(a.img_size))
    skip = 2 * a.workers + 2  # batches arriving in the start-up burst
    batches = skip + 1 + -(-a.images // a.batch)
    sampler = RandomSampler(ds, replacement=False, num_samples=batches * a.batch)
    loader = DataLoader(ds, batch_size=a.batch, sampler=sampler, num_workers=a.workers,
                        drop_last=True, persistent_workers=False)
    arrivals = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    batches_seen = iter(loader)
    for images, _ in batches_seen:
        assert images.shape[1:] == (3, a.img_size, a.img_size)
        arrivals.append(time.perf_counter())
    del batches_seen  # shuts the workers down and waits for them: their CPU time is counted
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    counted = len(arrivals) - 1 - skip
    seconds = arrivals[-1] - arrivals[skip]
    rate = counted * a.batch / seconds
    print(json.dumps({"impl": "pytorch-dataloader", "data": a.data, "workers": a.workers, "batch": a.batch,
                      "img_size": a.img_size, "images": counted * a.batch, "seconds": round(seconds, 3),
                      "img_per_s": round(rate, 1), "img_per_s_per_worker": round(rate / max(a.workers, 1), 1),
                      "cpu_s": round(cpu, 3) if a.workers else None,
                      "img_per_cpu_s": round(len(arrivals) * a.batch / cpu, 1) if a.workers and cpu else None,
                      "torch": torch.__version__, "torchvision": torchvision.__version__,
                      "pil": PIL.__version__}), flush=True)


if __name__ == "__main__":
    main()
