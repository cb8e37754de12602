"""Reference PyTorch model for simmimd's golden tests and throughput yardstick.

This file owns the "what the C core must compute" definition on the Python side:
the ViT encoder, the SimMIM pretraining head and loss, the fine-tuning classifier,
the docs/recipes.md initialisation, the parameter groups (weight decay, layer-wise lr
decay) and the lr schedule, all as docs/job-spec.md and docs/checkpoints.md specify.

It is written from docs/job-spec.md with plain torch.nn (no timm), for Debian's
PyTorch 1.13: run it with /usr/bin/python3. Module attribute names are chosen so
that state_dict() keys are exactly the checkpoint contract's names
(patch_embed.proj.weight, blocks.0.attn.qkv.weight, decoder.0.weight, ...).
"""

import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-6  # docs/job-spec.md: LayerNorm eps 1e-6 everywhere


@dataclass
class Config:
    img_size: int = 32
    patch_size: int = 4
    in_chans: int = 1
    embed_dim: int = 128
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4
    num_classes: int = 0          # 0 = pretraining model (SimMIM head), K > 0 = classifier
    drop_path: float = 0.0        # fine-tuning only; block i gets drop_path * i / (depth - 1)
    mask_patch_size: int = 8
    mask_ratio: float = 0.6
    loss_scope: str = "masked"    # "masked" | "full" (pretraining)
    label_smoothing: float = 0.0  # fine-tuning

    @property
    def grid(self):
        return self.img_size // self.patch_size

    @property
    def num_patches(self):
        return self.grid * self.grid

    def as_dict(self):
        return asdict(self)


# --------------------------------------------------------------------------- encoder


class PatchEmbed(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        # Named "proj" so the keys read patch_embed.proj.{weight,bias}.
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x):
        # [B, D, g, g] -> [B, N, D]; flatten(2) walks the grid row-major, which is the
        # token order the C core uses.
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        assert dim % num_heads == 0
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)  # full qkv bias (a deliberate departure)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, D = x.shape
        # qkv output column s*D + h*hd + d is (q|k|v = s, head h, dim d): the
        # [q | k | v] split with head h at columns h*hd..(h+1)*hd of each part.
        qkv = self.qkv(x).reshape(B, T, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                      # [B, H, T, hd]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        out = attn @ v                                        # [B, H, T, hd]
        # Heads are concatenated in head order: column h*hd + d.
        out = out.transpose(1, 2).reshape(B, T, D)
        return self.proj(out)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact erf GELU, not the tanh approximation
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        D = cfg.embed_dim
        self.norm1 = nn.LayerNorm(D, eps=LN_EPS)
        self.attn = Attention(D, cfg.num_heads)
        self.norm2 = nn.LayerNorm(D, eps=LN_EPS)
        self.mlp = Mlp(D, int(D * cfg.mlp_ratio))

    def forward(self, x, scale_attn=None, scale_mlp=None):
        """scale_* are per-sample branch multipliers [B] (drop path), or None."""
        a = self.attn(self.norm1(x))
        if scale_attn is not None:
            a = a * scale_attn.view(-1, 1, 1)
        x = x + a
        m = self.mlp(self.norm2(x))
        if scale_mlp is not None:
            m = m * scale_mlp.view(-1, 1, 1)
        return x + m


class SimMIMViT(nn.Module):
    """The ViT encoder plus either the SimMIM head (num_classes == 0) or a classifier.

    Pretraining:  forward(x, mask)              -> (loss, x_rec)
    Fine-tuning:  forward(x, labels, drop_keep) -> (loss, logits)
    """

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D, N = cfg.embed_dim, cfg.num_patches
        self.pretrain = cfg.num_classes == 0
        # Attribute creation order fixes named_parameters() order (and thus init RNG use
        # and fixture tensor order); it follows the contract table.
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + N, D))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        if self.pretrain:
            self.norm = nn.LayerNorm(D, eps=LN_EPS)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, D))
            p, C = cfg.patch_size, cfg.in_chans
            # A 1x1 conv is the per-token linear map D -> p*p*C; PixelShuffle puts output
            # channel c*p*p + i*p + j at pixel (i, j) of channel c, as docs/job-spec.md says.
            self.decoder = nn.Sequential(nn.Conv2d(D, p * p * C, kernel_size=1), nn.PixelShuffle(p))
        else:
            # No final `norm` for the mean-pooled classifier (timm global_pool='avg').
            self.fc_norm = nn.LayerNorm(D, eps=LN_EPS)
            self.head = nn.Linear(D, cfg.num_classes)

    # -- drop path

    def drop_path_rates(self):
        cfg = self.cfg
        if self.pretrain or cfg.depth <= 1:
            return [0.0] * cfg.depth
        return [cfg.drop_path * i / (cfg.depth - 1) for i in range(cfg.depth)]

    def _branch_scales(self, B, drop_keep, dtype, device):
        """Per block, the (attn, mlp) per-sample multipliers keep / (1 - r), or None.

        drop_keep [depth, 2, B] of 0/1 injects the keep decisions so a test can
        reproduce them exactly; without it, training mode draws them here.
        """
        scales = []
        for i, r in enumerate(self.drop_path_rates()):
            if r == 0.0:
                # Rate 0 never drops; the multiplier is exactly 1 whatever keep says.
                scales.append((None, None))
                continue
            if drop_keep is not None:
                keep = drop_keep[i].to(dtype=dtype, device=device)
            elif self.training:
                keep = torch.empty(2, B, dtype=dtype, device=device).bernoulli_(1.0 - r)
            else:
                scales.append((None, None))
                continue
            scales.append((keep[0] / (1.0 - r), keep[1] / (1.0 - r)))
        return scales

    # -- forward passes

    def _tokens(self, x, mask=None):
        t = self.patch_embed(x)                                         # [B, N, D]
        B = t.shape[0]
        if mask is not None:
            # Mask substitution happens before the cls token and pos_embed, so masked
            # tokens still carry their position.
            w = mask.flatten(1).unsqueeze(-1).to(t.dtype)               # [B, N, 1]
            t = t * (1.0 - w) + self.mask_token.expand(B, t.shape[1], -1) * w
        t = torch.cat([self.cls_token.expand(B, -1, -1), t], dim=1)
        return t + self.pos_embed

    def forward_pretrain(self, x, mask):
        cfg = self.cfg
        t = self._tokens(x, mask)
        for blk in self.blocks:
            t = blk(t)
        t = self.norm(t)[:, 1:]                                         # drop cls
        B, N, D = t.shape
        g = cfg.grid
        feat = t.transpose(1, 2).reshape(B, D, g, g)
        x_rec = self.decoder(feat)                                      # [B, C, H, W]
        loss = pretrain_loss(x, x_rec, mask, cfg.patch_size, cfg.in_chans, cfg.loss_scope)
        return loss, x_rec

    def forward_logits(self, x, drop_keep=None):
        t = self._tokens(x)
        scales = self._branch_scales(x.shape[0], drop_keep, t.dtype, t.device)
        for blk, (sa, sm) in zip(self.blocks, scales):
            t = blk(t, sa, sm)
        pooled = t[:, 1:].mean(dim=1)                                   # cls excluded
        return self.head(self.fc_norm(pooled))

    def forward_finetune(self, x, labels, drop_keep=None):
        logits = self.forward_logits(x, drop_keep)
        loss = F.cross_entropy(logits, labels.long(), label_smoothing=self.cfg.label_smoothing)
        return loss, logits

    def forward(self, x, arg, drop_keep=None):
        if self.pretrain:
            return self.forward_pretrain(x, arg)
        return self.forward_finetune(x, arg, drop_keep)


def pretrain_loss(x, x_rec, mask, patch_size, in_chans, scope):
    """SimMIM L1: mean |x - x_rec| over masked pixels and channels, or over everything."""
    if scope == "full":
        return (x - x_rec).abs().mean()
    if scope != "masked":
        raise ValueError(f"unknown loss scope {scope!r}")
    m = mask.to(x.dtype).repeat_interleave(patch_size, 1).repeat_interleave(patch_size, 2)
    m = m.unsqueeze(1)                                                  # [B, 1, H, W]
    # m.sum() counts pixels once (not per channel), hence the final / C.
    return ((x - x_rec).abs() * m).sum() / (m.sum() + 1e-5) / in_chans


# --------------------------------------------------------------------------- masking


def random_mask(batch, cfg, generator=None):
    """docs/job-spec.md's masker: per image, a random permutation of the mask grid, the first
    ceil(ratio * count) cells masked, upsampled to the token grid. Returns [B, g, g] float32."""
    mg = cfg.img_size // cfg.mask_patch_size
    count = mg * mg
    n_mask = int(math.ceil(cfg.mask_ratio * count))
    up = cfg.mask_patch_size // cfg.patch_size
    out = torch.zeros(batch, count)
    for b in range(batch):
        perm = torch.randperm(count, generator=generator)
        out[b, perm[:n_mask]] = 1.0
    out = out.view(batch, mg, mg)
    return out.repeat_interleave(up, 1).repeat_interleave(up, 2).contiguous()


# --------------------------------------------------------------------------- init


def _trunc_normal_(t, std, lo, hi, g):
    # Rejection sampling: redraw out-of-range entries until none remain. Exact for any cut.
    t.normal_(0.0, std, generator=g)
    while True:
        bad = (t < lo) | (t > hi)
        n = int(bad.sum())
        if n == 0:
            return t
        t[bad] = torch.empty(n, dtype=t.dtype).normal_(0.0, std, generator=g)


def _uniform_(t, bound, g):
    t.uniform_(-bound, bound, generator=g)


@torch.no_grad()
def init_weights(model, seed=0):
    """docs/recipes.md "Initialisation", drawn from one torch.Generator seeded with `seed`."""
    g = torch.Generator().manual_seed(seed)
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            # PyTorch's default Conv2d init: weight and bias uniform in +-1/sqrt(fan_in).
            fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
            bound = 1.0 / math.sqrt(fan_in)
            _uniform_(mod.weight, bound, g)
            _uniform_(mod.bias, bound, g)
        elif isinstance(mod, nn.Linear):
            if name == "head":
                mod.weight.normal_(0.0, 2e-5, generator=g)
            else:
                _trunc_normal_(mod.weight, 0.02, -2.0, 2.0, g)  # a cut at +-2 (not 2 std)
            mod.bias.zero_()
        elif isinstance(mod, nn.LayerNorm):
            mod.weight.fill_(1.0)
            mod.bias.zero_()
    for name in ("cls_token", "pos_embed", "mask_token"):
        if hasattr(model, name):
            _trunc_normal_(getattr(model, name), 0.02, -0.02, 0.02, g)
    return model


# --------------------------------------------------------------------------- optimisation

NO_DECAY_NAMES = ("cls_token", "pos_embed", "mask_token")
LAYER0_PREFIXES = ("patch_embed.",)


def layer_id(name, depth):
    if name in NO_DECAY_NAMES or name.startswith(LAYER0_PREFIXES):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return depth + 1  # norm, decoder, fc_norm, head


def wants_decay(name, p):
    return not (p.ndim <= 1 or name.endswith(".bias") or name in NO_DECAY_NAMES)


def param_groups(model, lr, weight_decay, layer_decay):
    """AdamW param groups: one per (layer id, decay?) in order of first appearance.

    Each group carries "lr_scale" = layer_decay^(depth+1-id) so a schedule can set
    group["lr"] = lr_at(t) * group["lr_scale"], and "names" for debugging.
    """
    depth = model.cfg.depth
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lid = layer_id(name, depth)
        decay = wants_decay(name, p)
        key = (lid, decay)
        if key not in groups:
            scale = layer_decay ** (depth + 1 - lid)
            groups[key] = {"params": [], "names": [], "layer_id": lid, "lr_scale": scale,
                           "lr": lr * scale, "weight_decay": weight_decay if decay else 0.0}
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return list(groups.values())


def lr_at(step, lr, min_lr, warm, total):
    """docs/job-spec.md "Optimization": linear warmup from 0, then cosine to min_lr."""
    if step < warm:
        return lr * step / warm
    if total <= warm:
        return min_lr
    progress = (step - warm) / (total - warm)
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer, step, lr, min_lr, warm, total):
    base = lr_at(step, lr, min_lr, warm, total)
    for g in optimizer.param_groups:
        g["lr"] = base * g.get("lr_scale", 1.0)
    return base
