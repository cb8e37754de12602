#!/usr/bin/python3
"""Writes the golden fixtures in tests/golden/fixtures/ that the C unit tests compare against.

Run with Debian's PyTorch: /usr/bin/python3 tests/golden/make_fixtures.py [OUT_DIR]

Each fixture is a safetensors file (written by the small writer below; the
`safetensors` package is not a dependency) holding the model parameters under
their checkpoint-contract names, the inputs, the expected outputs and the
expected gradient of every parameter. Everything is F32 (labels as float values).

Numerics: weights and inputs are drawn in float32, the model is then run in
float64 (model.double()) so the references carry no float32 rounding of their
own; results are rounded to float32 only when stored. The C core (fp32) is thus
compared against the exact answer for exactly the stored float32 inputs.
Fixed seeds make the files reproducible byte for byte on one PyTorch build.
"""

import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import simmim_torch as st  # noqa: E402

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


# --------------------------------------------------------------------------- safetensors


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float tensor) in data order; metadata: {str: str}."""
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name, t in tensors:
        # '<f4' pins little-endian float32 whatever the host.
        data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * (-len(hjson) % 8)  # pad so the data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return os.path.getsize(path)


def read_safetensors(path):
    """Minimal reader used only to check what was just written."""
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(raw[base + a:base + b], dtype="<f4")
                                     .reshape(h["shape"]).copy())
    return out, meta


# --------------------------------------------------------------------------- helpers


def f32(t):
    """Round to float32 (the precision the C side will read)."""
    return t.detach().to(torch.float32)


@torch.no_grad()
def perturb(model, seed):
    """RECIPES init leaves biases 0, LayerNorms 1/0 and tokens within +-0.02, which would
    make many gradient paths degenerate (e.g. LN bias gradients that equal their
    neighbours'). Small random offsets make every gradient distinct and non-trivial.
    The fine-tuning head's std-2e-5 init would also starve the encoder's gradients,
    so it gets a 0.02-scale offset too."""
    g = torch.Generator().manual_seed(seed)

    def noise(p, std):
        return torch.empty_like(p).normal_(0.0, std, generator=g)

    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.LayerNorm):
            mod.weight.add_(noise(mod.weight, 0.1))
            mod.bias.add_(noise(mod.bias, 0.1))
        elif isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
            mod.bias.add_(noise(mod.bias, 0.02))
            if name == "head":
                mod.weight.add_(noise(mod.weight, 0.05))
    for name in ("cls_token", "pos_embed", "mask_token"):
        if hasattr(model, name):
            p = getattr(model, name)
            p.add_(noise(p, 0.05))


def build_model(cfg, seed):
    model = st.SimMIMViT(cfg)
    st.init_weights(model, seed)
    perturb(model, seed + 1000)
    # Parameters are float32 here already; double() widens them exactly.
    return model.double()


def config_json(cfg, batch):
    d = cfg.as_dict()
    keys = ["img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads",
            "mlp_ratio", "num_classes", "drop_path", "batch", "mask_patch_size",
            "mask_ratio", "loss_scope", "label_smoothing"]
    d["batch"] = batch
    return json.dumps({k: d[k] for k in keys}, separators=(",", ":"))


def param_tensors(model, prefix=""):
    return [(prefix + n, f32(p)) for n, p in model.named_parameters()]


def grad_tensors(model):
    return [("grad." + n, f32(p.grad)) for n, p in model.named_parameters()]


def model_tensors(model, inputs_outputs):
    """A forward/backward fixture's tensors: parameters, then inputs and outputs, then gradients."""
    return param_tensors(model) + inputs_outputs + grad_tensors(model)


def save_fixture(path, tensors, meta, summary):
    """Writes the fixture, reads it back to check every tensor survived, and says what it holds."""
    size = write_safetensors(path, tensors, meta)
    back, _ = read_safetensors(path)
    assert list(back) == [n for n, _ in tensors], "tensor order changed"
    for n, t in tensors:
        assert torch.equal(back[n], f32(t)), n
    print(f"{os.path.basename(path)}: {size} bytes ({size / 1024:.0f} KiB), {summary}")


# --------------------------------------------------------------------------- fixtures


def make_pretrain(path, cfg, batch, seed):
    model = build_model(cfg, seed)
    g = torch.Generator().manual_seed(seed + 1)
    images = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, generator=g)
    mask = st.random_mask(batch, cfg, g)
    loss, pred = model(images.double(), mask.double())
    loss.backward()
    tensors = model_tensors(model, [("input.images", images), ("input.mask", mask),
                                    ("output.loss", loss.reshape(1)), ("output.pred", pred)])
    save_fixture(path, tensors, {"kind": "pretrain", "config": config_json(cfg, batch)},
                 f"loss {loss.item():.6f}, masked tokens {int(mask.sum())}/{mask.numel()}")


def finetune_c1_config():
    return st.Config(img_size=16, patch_size=4, in_chans=1, embed_dim=32, depth=3,
                     num_heads=4, mlp_ratio=4, num_classes=5, drop_path=0.2,
                     mask_patch_size=0, mask_ratio=0.0, loss_scope="none",
                     label_smoothing=0.1)


FINETUNE_SEED = 30


def make_finetune(path):
    cfg, batch, seed = finetune_c1_config(), 4, FINETUNE_SEED
    model = build_model(cfg, seed)
    g = torch.Generator().manual_seed(seed + 1)
    images = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, generator=g)
    labels = torch.randint(0, cfg.num_classes, (batch,), generator=g).float()
    # Rates are 0, 0.1, 0.2 for blocks 0..2. Block 0 keeps everything (rate 0 never
    # drops); blocks 1 and 2 each drop a different sample in each branch, so a wrong
    # block/branch/sample indexing in the C core shows up.
    drop_keep = torch.ones(cfg.depth, 2, batch)
    drop_keep[1, 0, 1] = 0.0   # block 1, attention, sample 1
    drop_keep[1, 1, 3] = 0.0   # block 1, MLP, sample 3
    drop_keep[2, 0, 0] = 0.0   # block 2, attention, sample 0
    drop_keep[2, 1, 2] = 0.0   # block 2, MLP, sample 2
    model.train()
    loss, logits = model(images.double(), labels.double(), drop_keep.double())
    loss.backward()
    tensors = model_tensors(model, [("input.images", images), ("input.labels", labels),
                                    ("input.drop_keep", drop_keep),
                                    ("output.loss", loss.reshape(1)), ("output.logits", logits)])
    save_fixture(path, tensors, {"kind": "finetune", "config": config_json(cfg, batch)},
                 f"loss {loss.item():.6f}, labels {labels.long().tolist()}")


def make_adamw(path):
    cfg, batch = finetune_c1_config(), 4
    model = build_model(cfg, FINETUNE_SEED)  # the same weights as finetune_c1
    optim = {"lr": 5e-3, "min_lr": 1e-4, "warmup_steps": 2, "total_steps": 10,
             "start_step": 1, "weight_decay": 0.05, "beta1": 0.9, "beta2": 0.999,
             "eps": 1e-8, "clip_grad": 1.0, "layer_decay": 0.75}
    groups = st.param_groups(model, optim["lr"], optim["weight_decay"], optim["layer_decay"])
    opt = torch.optim.AdamW(groups, lr=optim["lr"], betas=(optim["beta1"], optim["beta2"]),
                            eps=optim["eps"], weight_decay=optim["weight_decay"])
    params = list(model.named_parameters())
    tensors = param_tensors(model)
    g = torch.Generator().manual_seed(40)
    # Target pre-clip global norms: above clip_grad (clipped), below (untouched), above.
    target_norms = [3.0, 0.5, 2.0]
    lrs, norms = [], []
    for k, target in enumerate(target_norms, start=1):
        t = optim["start_step"] + k - 1
        lrs.append(st.set_lr(opt, t, optim["lr"], optim["min_lr"],
                             optim["warmup_steps"], optim["total_steps"]))
        raw = [torch.randn(p.shape, generator=g) for _, p in params]
        total = torch.sqrt(sum((r.double() ** 2).sum() for r in raw))
        for (name, p), r in zip(params, raw):
            # Round the scaled gradient to float32 first: the C side reads it as stored.
            p.grad = f32(r * (target / total)).double()
            # A copy: clip_grad_norm_ below scales p.grad in place, and the fixture
            # holds the pre-clip gradient the C side must clip itself.
            tensors.append((f"grad.step{k}.{name}", p.grad.clone()))
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), optim["clip_grad"])
        norms.append(norm.item())
        opt.step()
        tensors.append((f"grad_norm.step{k}", norm.reshape(1)))
        tensors += param_tensors(model, prefix=f"param.step{k}.")
    meta = {"kind": "adamw", "config": config_json(cfg, batch),
            "optim": json.dumps(optim, separators=(",", ":"))}
    clipped = ["clip" if n > optim["clip_grad"] else "no-clip" for n in norms]
    save_fixture(path, tensors, meta, "lr " + ", ".join(f"{x:.6g}" for x in lrs)
                 + "; grad_norm " + ", ".join(f"{n:.4f} ({c})" for n, c in zip(norms, clipped)))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else OUT_DIR
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)  # keeps reductions in a fixed order
    c1 = st.Config(img_size=16, patch_size=4, in_chans=1, embed_dim=32, depth=2, num_heads=2,
                   mlp_ratio=4, num_classes=0, drop_path=0.0, mask_patch_size=8,
                   mask_ratio=0.6, loss_scope="masked", label_smoothing=0.0)
    c3 = st.Config(img_size=16, patch_size=4, in_chans=3, embed_dim=48, depth=2, num_heads=3,
                   mlp_ratio=4, num_classes=0, drop_path=0.0, mask_patch_size=8,
                   mask_ratio=0.5, loss_scope="masked", label_smoothing=0.0)
    full = st.Config(**{**c1.as_dict(), "loss_scope": "full"})
    make_pretrain(os.path.join(out, "pretrain_c1.safetensors"), c1, batch=3, seed=10)
    make_pretrain(os.path.join(out, "pretrain_c3.safetensors"), c3, batch=2, seed=20)
    make_pretrain(os.path.join(out, "pretrain_full.safetensors"), full, batch=3, seed=10)
    make_finetune(os.path.join(out, "finetune_c1.safetensors"))
    make_adamw(os.path.join(out, "adamw.safetensors"))


if __name__ == "__main__":
    main()
