#!/usr/bin/python3
"""PyTorch yardstick for `make bench`: img/s of one full training step, fp32 or (--precision
bf16) with the forward pass under CPU autocast to bfloat16, PyTorch's mixed precision: matrix
products in bf16 (oneDNN, AMX where the processor has it), fp32 parameters and optimizer.

Run with Debian's PyTorch: /usr/bin/python3 tests/bench/torch_step.py --preset fmnist-q
Uses the golden reference model (tests/golden/simmim_torch.py; swin_torch.py for the Swin
presets), so the C core and the yardstick run the same architecture, the SimMIM head included: --decoder, --decoder-depth,
--decoder-hidden, --loss, --loss-k and --target-resolution as build/bench_step takes them (the
bins and palette targets read the synthetic normal inputs as normalized with mean 0.5 and std
0.25; a palette is K random colours in [0, 1]). Prints one JSON line:
{"preset","kind","batch","threads","precision","head","img_per_s","img_per_s_reps":[...],
 "peak_rss_mb"}
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
import simmim_torch as st  # noqa: E402
import swin_torch as sw  # noqa: E402

# docs/recipes.md "Throughput yardstick": img, patch, C, D, depth, heads, batch, mask_patch.
PRESETS = {
    "fmnist-q":     (32, 4, 1, 128, 4, 4, 256, 8),
    "fmnist-vit-t": (32, 4, 1, 192, 6, 3, 128, 8),
    "vit-t16-224":  (224, 16, 3, 192, 12, 3, 32, 32),
    "vit-s16-224":  (224, 16, 3, 384, 12, 6, 16, 32),
}
# The Swin presets (core/config/config.c): img, patch, C, D, depths, heads, batch, mask_patch,
# window. The Swin's fine-tuning step runs without drop path (swin_torch draws none itself).
SWIN_PRESETS = {
    "swin-fmnist": (32, 2, 1, 48, (2, 2, 2), (3, 6, 12), 128, 8, 4),
    "swin-t-192":  (192, 4, 3, 96, (2, 2, 6, 2), (3, 6, 12, 24), 16, 32, 6),
}
PRESETS.update({name: p[:8] for name, p in SWIN_PRESETS.items()})
NUM_CLASSES = 10
WARMUP_STEPS = 2


def head_label(args):
    """The head as bench.sh's config syntax and bench_step name it ("" for linear/l1)."""
    parts = []
    if args.decoder != "linear":
        parts.append(f"decoder={args.decoder}")
    if args.decoder == "transformer":
        parts.append(f"depth={args.decoder_depth}")
    if args.decoder == "mlp" and args.decoder_hidden:
        parts.append(f"hidden={args.decoder_hidden}")
    if args.loss != "l1":
        k = {"bins": args.loss_k or 256, "palette": args.loss_k or 512}.get(args.loss, "")
        parts.append(f"loss={args.loss}{k}")
    if args.target_resolution and args.target_resolution != PRESETS[args.preset][0]:
        parts.append(f"target={args.target_resolution}")
    return ",".join(parts)


def make_config(preset, kind, args=None):
    img, patch, chans, dim, depth, heads, batch, mask_patch = PRESETS[preset]
    head = {}
    if args is not None and kind == "pretrain":
        head = dict(decoder_type=args.decoder, decoder_depth=args.decoder_depth,
                    decoder_hidden=args.decoder_hidden, loss_type=args.loss,
                    target_resolution=args.target_resolution,
                    pixel_mean=(0.5,) * chans, pixel_std=(0.25,) * chans)
        if args.loss == "bins" and args.loss_k:
            head["loss_bins"] = args.loss_k
        if args.loss == "palette" and args.loss_k:
            head["loss_palette"] = args.loss_k
    # Fine-tuning uses the recipe's drop path and label smoothing so the step does the
    # same work as a real fine-tuning step (drop path masks drawn inside the model).
    common = dict(img_size=img, patch_size=patch, in_chans=chans, embed_dim=dim, mlp_ratio=4,
                  num_classes=NUM_CLASSES if kind == "finetune" else 0,
                  drop_path=0.1 if kind == "finetune" else 0.0,
                  mask_patch_size=mask_patch, mask_ratio=0.6, loss_scope="masked",
                  label_smoothing=0.1 if kind == "finetune" else 0.0, **head)
    if preset in SWIN_PRESETS:
        cfg = sw.SwinConfig(depth=0, num_heads=0, depths=depth, stage_heads=heads,
                            window_size=SWIN_PRESETS[preset][8], **common)
    else:
        cfg = st.Config(depth=depth, num_heads=heads, **common)
    return cfg, batch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="fmnist-q")
    ap.add_argument("--kind", choices=["pretrain", "finetune"], default="pretrain")
    ap.add_argument("--batch", type=int, default=0, help="0 = the preset's batch")
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--decoder", choices=["linear", "mlp", "transformer"], default="linear")
    ap.add_argument("--decoder-depth", type=int, default=2, help="transformer: blocks")
    ap.add_argument("--decoder-hidden", type=int, default=0, help="mlp: width, 0 = embed_dim")
    ap.add_argument("--loss", choices=["l1", "l2", "smooth_l1", "bins", "palette"], default="l1")
    ap.add_argument("--loss-k", type=int, default=0, help="bins or palette: K, 0 = 256 or 512")
    ap.add_argument("--target-resolution", type=int, default=0, help="0 = the image size")
    args = ap.parse_args()
    head = head_label(args)
    if head and args.kind != "pretrain":
        ap.error("the decoder, loss and target options are pretraining's")

    cfg, batch = make_config(args.preset, args.kind, args)
    batch = args.batch or batch
    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)

    if args.preset in SWIN_PRESETS:
        model = sw.init_weights(sw.SimMIMSwin(cfg), args.seed)
    else:
        model = st.init_weights(st.SimMIMViT(cfg), args.seed)
    palette = getattr(getattr(model, "decoder", None), "palette", None)
    if palette is not None:  # the trainer's k-means would set it: any colours in [0, 1] will do
        with torch.no_grad():
            palette.uniform_(0.0, 1.0)
    if args.precision == "bf16":
        # This PyTorch's CPU autocast leaves layer_norm out of its lists, and the kernel refuses
        # a bf16 input beside fp32 weights: a Swin's patch merging feeds its next stage's first
        # norm with a product's bf16. The norms run in fp32, as later PyTorch's autocast runs them.
        for m in model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.register_forward_pre_hook(lambda module, inputs: (inputs[0].float(),))
    model.train()
    layer_decay = 0.75 if args.kind == "finetune" else 1.0
    opt = torch.optim.AdamW(st.param_groups(model, 1e-3, 0.05, layer_decay),
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)

    # One fixed batch: the yardstick times the step, not data loading or mask drawing.
    images = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size)
    if args.kind == "pretrain":
        target = st.random_mask(batch, cfg)
    else:
        target = torch.randint(0, NUM_CLASSES, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss, _ = model(images, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        return loss.item()  # .item() also makes sure the step has really finished

    for _ in range(WARMUP_STEPS):
        step()
    rates = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        rates.append(batch * args.steps / (time.perf_counter() - t0))

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "preset": args.preset, "kind": args.kind, "batch": batch, "threads": threads,
        "precision": args.precision, "head": head, "img_per_s": round(statistics.median(rates), 2),
        "img_per_s_reps": [round(r, 2) for r in rates],
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }))


if __name__ == "__main__":
    main()
