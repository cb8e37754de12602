#!/usr/bin/python3
"""Writes the golden fixtures in tests/golden/fixtures/ that the C unit tests compare against.

Run with Debian's PyTorch: /usr/bin/python3 tests/golden/make_fixtures.py [--bf16] [OUT_DIR]

--bf16 writes the model fixtures again into OUT_DIR/bf16/ with simmimd's bf16 arithmetic
(bf16_emulation.py): the same parameters and inputs, the outputs and gradients of bf16
products, which test_golden.c compares the precision bf16 against.

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
import bf16_emulation  # noqa: E402
import simmim_torch as st  # noqa: E402
import swin_torch as sw  # noqa: E402

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
            if mod.bias is not None:  # Swin's patch merging reduction has none
                mod.bias.add_(noise(mod.bias, 0.02))
            if name in ("head", "head.fc"):
                mod.weight.add_(noise(mod.weight, 0.05))
        elif isinstance(mod, sw.WindowAttention):
            # A bias of the attention logits' own size (std ~1 once sharpened), so that a wrong
            # gather of the table moves the output by far more than the tolerance.
            mod.relative_position_bias_table.add_(noise(mod.relative_position_bias_table, 0.5))
    for name in ("cls_token", "pos_embed", "mask_token", "absolute_pos_embed"):
        if hasattr(model, name):
            p = getattr(model, name)
            p.add_(noise(p, 0.05))


def build_model(cfg, seed):
    if getattr(cfg, "arch", "vit") == "swin":
        model = sw.SimMIMSwin(cfg)
        sw.init_weights(model, seed)
    else:
        model = st.SimMIMViT(cfg)
        st.init_weights(model, seed)
    perturb(model, seed + 1000)
    # Parameters are float32 here already; double() widens them exactly.
    return model.double()


def head_json(cfg):
    """The SimMIM head's keys of a fixture's config, each only where it is not the default
    (linear decoder, full-resolution target, l1), so the fixtures of the default head keep
    their config byte for byte:
    "decoder": {"type", "hidden", "depth", "embed_dim", "num_heads"} (the job spec's decoder.*),
    "target_resolution": r, "loss": {"type", "beta", "bins", "palette"} (loss.*; the scope stays
    "loss_scope"), "pixel_mean"/"pixel_std": [C] (the normalization, pixel = x * std + mean),
    "mask_type": how input.mask was drawn (documentation: the mask is given)."""
    default = st.Config()
    d = {}
    if cfg.decoder_type != default.decoder_type:
        d["decoder"] = {"type": cfg.decoder_type, "hidden": cfg.decoder_hidden,
                        "depth": cfg.decoder_depth, "embed_dim": cfg.decoder_embed_dim,
                        "num_heads": cfg.decoder_num_heads}
    if cfg.target_resolution != default.target_resolution:
        d["target_resolution"] = cfg.target_resolution
    if cfg.loss_type != default.loss_type:
        d["loss"] = {"type": cfg.loss_type, "beta": cfg.loss_beta, "bins": cfg.loss_bins,
                     "palette": cfg.loss_palette}
    if cfg.pixel_mean is not None:
        d["pixel_mean"], d["pixel_std"] = list(cfg.pixel_mean), list(cfg.pixel_std)
    if cfg.mask_type != default.mask_type:
        d["mask_type"] = cfg.mask_type
    return d


def config_json(cfg, batch):
    """A Swin's (arch "swin") has depths, num_heads (a list), window_size, ape and patch_norm
    in place of depth and num_heads."""
    d = cfg.as_dict()
    keys = ["img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads",
            "mlp_ratio", "num_classes", "drop_path", "batch", "mask_patch_size",
            "mask_ratio", "loss_scope", "label_smoothing"]
    if d.get("arch") == "swin":
        d["depths"], d["num_heads"] = list(d["depths"]), list(d["stage_heads"])
        keys = ["arch"] + [k for k in keys if k != "depth"] + ["depths", "window_size", "ape",
                                                               "patch_norm"]
    d["batch"] = batch
    out = {k: d[k] for k in keys}
    if cfg.num_classes == 0:
        out.update(head_json(cfg))
    return json.dumps(out, separators=(",", ":"))


def param_tensors(model, prefix=""):
    return [(prefix + n, f32(p)) for n, p in model.named_parameters()]


def grad_tensors(model):
    """Every parameter's gradient; one that is never trained (decoder.palette) has none, and
    its expected gradient is 0: the C model must leave it untouched."""
    out = []
    for n, p in model.named_parameters():
        if p.grad is None:
            assert not p.requires_grad, n
            out.append(("grad." + n, torch.zeros_like(f32(p))))
        else:
            out.append(("grad." + n, f32(p.grad)))
    return out


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


def make_pretrain(path, cfg, batch, seed, sharpen=False):
    """A pretraining fixture: images N(0, 1), a random mask, attention sharpened if asked
    (sharpen_attention; the Swin fixtures are)."""
    model = build_model(cfg, seed)
    if sharpen:
        sharpen_attention(model)
    g = torch.Generator().manual_seed(seed + 1)
    images = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, generator=g)
    mask = st.random_mask(batch, cfg, g)
    loss, pred = model(images.double(), mask.double())
    loss.backward()
    tensors = model_tensors(model, [("input.images", images), ("input.mask", mask),
                                    ("output.loss", loss.reshape(1)), ("output.pred", pred)])
    save_fixture(path, tensors, {"kind": "pretrain", "config": config_json(cfg, batch)},
                 f"loss {loss.item():.6f}, masked tokens {int(mask.sum())}/{mask.numel()}")


# The head fixtures (issue 25): the SimMIM head's choices, each on a small model (embed 16,
# mlp_ratio 2: tens of KiB a file) with one choice changed from the default head, masks on a
# 4 x 4 mask grid (mask_patch_size = patch_size = 4).
HEAD_BASE = st.Config(img_size=16, patch_size=4, in_chans=1, embed_dim=16, depth=2, num_heads=2,
                      mlp_ratio=2, num_classes=0, drop_path=0.0, mask_patch_size=4,
                      mask_ratio=0.6, loss_scope="masked", label_smoothing=0.0)
# The normalization of the classification fixtures, close to Fashion-MNIST's (0.29, 0.35) and
# exact in float32, different per channel.
PIXEL_MEAN = (0.28125, 0.3125, 0.25)
PIXEL_STD = (0.34375, 0.375, 0.3125)
# The smallest margin of a classification target's decision (pixel_classes) a fixture may
# have: float32 on the C side moves a pooled pixel by ~1e-7, so no class can differ.
CLASS_MARGIN = 1e-4


def head_config(**changes):
    c = {**HEAD_BASE.as_dict(), **changes}
    if c["loss_type"] in ("bins", "palette"):
        C = c["in_chans"]
        c["pixel_mean"], c["pixel_std"] = PIXEL_MEAN[:C], PIXEL_STD[:C]
    return st.Config(**c)


def pixel_images(batch, cfg, g):
    """Images as the loader gives them to a classification head: pixels in [0, 1] (some
    saturated at 0 or 1), normalized per channel with cfg's mean and std, in float32. Each
    patch has a colour of its own, uniform in [0, 1]^C, with noise, so the pooled targets
    cover the bins and colours."""
    B, C, S, p = batch, cfg.in_chans, cfg.img_size, cfg.patch_size
    colours = torch.rand(B, C, S // p, S // p, generator=g)
    colours = colours.repeat_interleave(p, 2).repeat_interleave(p, 3)
    u = (colours + 0.2 * torch.randn(B, C, S, S, generator=g)).clamp(0.0, 1.0)
    mean = torch.tensor(cfg.pixel_mean).view(1, -1, 1, 1)
    std = torch.tensor(cfg.pixel_std).view(1, -1, 1, 1)
    return (u - mean) / std


def class_summary(images, cfg, palette):
    """The classes' decision margin and how many distinct classes the target uses."""
    target = st.pretrain_target(images.double(), cfg)
    classes, margin = st.pixel_classes(target, cfg, None if palette is None else palette.double())
    return margin, len(torch.unique(classes))


@torch.no_grad()
def sharpen_attention(model, factor=10.0):
    """The init's qkv weights (std 0.02) give attention logits of std ~0.01: every softmax
    nearly uniform, so that a wrong head split or head count moves the output by less than the
    tolerance (a transformer decoder run with the encoder's head count moved pretrain_transformer's
    prediction by 4e-4 relative, its loss by 3e-6). Ten times larger weights give logits of
    std ~1 (the same mistake: 0.24 and 2e-3)."""
    for mod in model.modules():
        if isinstance(mod, (st.Attention, sw.WindowAttention)):
            mod.qkv.weight.mul_(factor)


def make_head_fixture(path, cfg, batch, seed, image_scale=1.0, rects=None):
    """A pretraining fixture of the head fixtures: images N(0, image_scale^2), or pixel images
    for a classification loss (redrawn until every target class is decided by more than
    CLASS_MARGIN); the mask random, square, or the given rectangles (rects, in mask cells);
    decoder.palette drawn uniform in [0, 1]^C; attention sharpened (sharpen_attention)."""
    model = build_model(cfg, seed)
    sharpen_attention(model)
    g = torch.Generator().manual_seed(seed + 1)
    palette = None
    if cfg.loss_type == "palette":
        palette = torch.rand(cfg.loss_palette, cfg.in_chans, generator=g)
        with torch.no_grad():
            model.decoder.palette.copy_(palette.double())
    shape = (batch, cfg.in_chans, cfg.img_size, cfg.img_size)
    notes = []
    if cfg.loss_type in ("bins", "palette"):
        for attempt in range(1, 100):
            images = pixel_images(batch, cfg, g)
            margin, used = class_summary(images, cfg, palette)
            if margin > CLASS_MARGIN:
                break
        else:
            raise RuntimeError("no images with a safe class margin")
        notes.append(f"{used} classes used, margin {margin:.2g} (draw {attempt})")
    else:
        images = image_scale * torch.randn(shape, generator=g)
    if rects is not None:
        mask = st.rectangles_mask(rects, batch, cfg)
    elif cfg.mask_type == "square":
        mask = st.square_mask(batch, cfg, g)
    else:
        mask = st.random_mask(batch, cfg, g)
    loss, pred = model(images.double(), mask.double())
    loss.backward()
    if cfg.loss_type == "smooth_l1":
        # Both branches of smooth_l1 must be exercised.
        d = (pred - st.pretrain_target(images.double(), cfg)).abs()
        quadratic = (d < cfg.loss_beta).double().mean().item()
        assert 0.1 < quadratic < 0.9, quadratic
        notes.append(f"|d| < beta for {100 * quadratic:.0f}% of the elements")
    tensors = model_tensors(model, [("input.images", images), ("input.mask", mask),
                                    ("output.loss", loss.reshape(1)), ("output.pred", pred)])
    save_fixture(path, tensors, {"kind": "pretrain", "config": config_json(cfg, batch)},
                 ", ".join([f"loss {loss.item():.6f}", f"pred {list(pred.shape)}",
                            f"masked tokens {int(mask.sum())}/{mask.numel()}"] + notes))


# The given block masks (rectangles top, left, height, width on the 4 x 4 mask grid, as BEiT's
# masking generator places them; they may overlap) of pretrain_block.
BLOCK_RECTS = [[(0, 0, 2, 3), (2, 2, 2, 2)],
               [(0, 0, 2, 2), (1, 1, 2, 2), (3, 0, 1, 4)],
               [(0, 3, 4, 1), (1, 0, 1, 2), (3, 1, 1, 1)]]


def make_head_fixtures(out):
    """name -> (config, batch, seed, options); the names are test_golden.c's."""
    c3 = {"in_chans": 3}
    fixtures = {
        # decoders
        "pretrain_mlp": (head_config(decoder_type="mlp", decoder_hidden=24), 3, 50, {}),
        # E = 24 (3 heads) beside D = 16 (2 heads): a mix-up of the two widths cannot pass.
        "pretrain_transformer": (head_config(decoder_type="transformer", decoder_depth=2,
                                             decoder_embed_dim=24, decoder_num_heads=3), 2, 52, {}),
        # target resolutions: r = T (one pixel per token), r = img / 2
        "pretrain_r4": (head_config(target_resolution=4, **c3), 2, 54, {}),
        "pretrain_r8": (head_config(target_resolution=8, **c3), 2, 56, {}),
        # regression losses
        "pretrain_l2": (head_config(loss_type="l2"), 3, 58, {}),
        "pretrain_smooth_l1": (head_config(loss_type="smooth_l1", loss_beta=0.5), 3, 60,
                               {"image_scale": 0.7}),
        # classification losses, masked and full
        "pretrain_bins8": (head_config(loss_type="bins", loss_bins=8, target_resolution=8, **c3),
                           2, 62, {}),
        "pretrain_palette16": (head_config(loss_type="palette", loss_palette=16,
                                           target_resolution=8, **c3), 2, 64, {}),
        "pretrain_bins8_full": (head_config(loss_type="bins", loss_bins=8, target_resolution=8,
                                            loss_scope="full", **c3), 2, 66, {}),
        "pretrain_palette16_full": (head_config(loss_type="palette", loss_palette=16,
                                                target_resolution=4, loss_scope="full", **c3),
                                    2, 68, {}),
        # mask types, given as masks, with the default head
        "pretrain_square": (head_config(mask_type="square", mask_ratio=0.25), 3, 70, {}),
        "pretrain_block": (head_config(mask_type="block", mask_ratio=0.4), 3, 72,
                           {"rects": BLOCK_RECTS}),
    }
    for name, (cfg, batch, seed, options) in fixtures.items():
        make_head_fixture(os.path.join(out, name + ".safetensors"), cfg, batch, seed, **options)


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


def make_adamw(path, cfg, seed):
    """Three AdamW steps from the weights of the fine-tuning fixture of cfg and seed."""
    batch = 4
    model = build_model(cfg, seed)
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


# The Swin fixtures (issue 28): img 32, patch 4, window 4, depths [2, 2], heads [2, 4] — stage
# grids 8 (four windows, the odd block shifted by 2) and 4 (one window, no shift), so a shifted
# block, a merge and a stage whose resolution equals the window; embed 16 (stage widths 16, 32).
SWIN_BASE = dict(img_size=32, patch_size=4, in_chans=3, embed_dim=16, depth=0, num_heads=0,
                 mlp_ratio=4, num_classes=0, drop_path=0.0, mask_patch_size=8, mask_ratio=0.6,
                 loss_scope="masked", label_smoothing=0.0, depths=(2, 2), stage_heads=(2, 4),
                 window_size=4, ape=False, patch_norm=True)


def swin_config(**changes):
    return sw.SwinConfig(**{**SWIN_BASE, **changes})


def swin_finetune_config():
    return swin_config(in_chans=1, num_classes=5, drop_path=0.2, mask_patch_size=0,
                       mask_ratio=0.0, loss_scope="none", label_smoothing=0.1)


SWIN_FINETUNE_SEED = 90


def make_swin_finetune(path):
    """Drop path over the 4 blocks (rates 0, 1/15, 2/15, 0.2): the last three each drop a
    different sample in each branch."""
    cfg, batch, seed = swin_finetune_config(), 4, SWIN_FINETUNE_SEED
    model = build_model(cfg, seed)
    sharpen_attention(model)
    g = torch.Generator().manual_seed(seed + 1)
    images = torch.randn(batch, cfg.in_chans, cfg.img_size, cfg.img_size, generator=g)
    labels = torch.randint(0, cfg.num_classes, (batch,), generator=g).float()
    drop_keep = torch.ones(sum(cfg.depths), 2, batch)
    drop_keep[1, 0, 1] = drop_keep[1, 1, 3] = 0.0
    drop_keep[2, 0, 0] = drop_keep[2, 1, 2] = 0.0
    drop_keep[3, 0, 2] = drop_keep[3, 1, 0] = 0.0
    loss, logits = model(images.double(), labels.double(), drop_keep.double())
    loss.backward()
    tensors = model_tensors(model, [("input.images", images), ("input.labels", labels),
                                    ("input.drop_keep", drop_keep),
                                    ("output.loss", loss.reshape(1)), ("output.logits", logits)])
    save_fixture(path, tensors, {"kind": "finetune", "config": config_json(cfg, batch)},
                 f"loss {loss.item():.6f}, labels {labels.long().tolist()}")


def make_swin_fixtures(out, with_optimizer):
    make_pretrain(os.path.join(out, "swin_pretrain.safetensors"), swin_config(), 2, 80, True)
    # Absolute position embedding, no patch norm, one channel; an mlp decoder at r = 16 (4
    # target pixels per output token side, 2 per patch) and l2.
    make_pretrain(os.path.join(out, "swin_pretrain_ape_mlp.safetensors"),
                  swin_config(in_chans=1, ape=True, patch_norm=False, decoder_type="mlp",
                              decoder_hidden=24, target_resolution=16, loss_type="l2"),
                  2, 82, True)
    # A transformer decoder on the 4 x 4 output map (E = 24, 3 heads, beside the last stage's
    # width 32 and 4 heads).
    make_pretrain(os.path.join(out, "swin_pretrain_transformer.safetensors"),
                  swin_config(in_chans=1, decoder_type="transformer", decoder_depth=1,
                              decoder_embed_dim=24, decoder_num_heads=3), 2, 84, True)
    make_swin_finetune(os.path.join(out, "swin_finetune.safetensors"))
    if with_optimizer:
        make_adamw(os.path.join(out, "swin_adamw.safetensors"), swin_finetune_config(),
                   SWIN_FINETUNE_SEED)


def main():
    args = sys.argv[1:]
    bf16 = "--bf16" in args
    args = [a for a in args if a != "--bf16"]
    out = args[0] if args else OUT_DIR
    if bf16:
        with bf16_emulation.emulated_bf16():
            make_model_fixtures(os.path.join(out, "bf16"), with_optimizer=False)
    else:
        make_model_fixtures(out, with_optimizer=True)


def make_model_fixtures(out, with_optimizer):
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
    if with_optimizer:
        make_adamw(os.path.join(out, "adamw.safetensors"), finetune_c1_config(), FINETUNE_SEED)
    make_head_fixtures(out)
    make_swin_fixtures(out, with_optimizer)


if __name__ == "__main__":
    main()
