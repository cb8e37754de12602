"""Reference PyTorch model for simmimd's golden tests and throughput yardstick.

This file owns the "what the C core must compute" definition on the Python side:
the ViT encoder, the SimMIM pretraining head (linear, MLP or transformer decoder; regression
or pixel-classification losses at a chosen target resolution) and loss, the fine-tuning classifier,
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
    mask_type: str = "random"     # "random" | "square" | "block" (the fixtures give block masks)
    loss_scope: str = "masked"    # "masked" | "full" (pretraining)
    label_smoothing: float = 0.0  # fine-tuning
    # The SimMIM head (pretraining; docs/job-spec.md decoder, target, loss). The defaults are
    # the reference SimMIM's: linear decoder, full-resolution target, l1.
    decoder_type: str = "linear"  # "linear" | "mlp" | "transformer"
    decoder_hidden: int = 0       # mlp: hidden width (0 = embed_dim)
    decoder_depth: int = 2        # transformer: blocks
    decoder_embed_dim: int = 0    # transformer: width E (0 = embed_dim)
    decoder_num_heads: int = 0    # transformer: heads (0 = num_heads)
    target_resolution: int = 0    # r, the side of the predicted image (0 = img_size)
    loss_type: str = "l1"         # "l1" | "l2" | "smooth_l1" | "bins" | "palette"
    loss_beta: float = 1.0        # smooth_l1
    loss_bins: int = 256          # bins: K
    loss_palette: int = 512       # palette: K
    # The normalization of the images (pixel = x * std + mean, in [0, 1]), per channel: the
    # classification targets quantize pixels, not normalized values. None = 0 and 1.
    pixel_mean: tuple = None
    pixel_std: tuple = None

    @property
    def grid(self):
        return self.img_size // self.patch_size

    @property
    def resolution(self):
        """r: the side of the target and of the prediction."""
        return self.target_resolution or self.img_size

    @property
    def per_token(self):
        """s = r / grid: target pixels per token side."""
        return self.resolution // self.grid

    @property
    def per_patch(self):
        """Target pixels per side of a token-mask cell (the patch grid): s itself here; a Swin's
        tokens at its output stride are larger than its patches."""
        return self.resolution // self.grid

    # The encoder's output that the head reads: tokens, their width and a transformer
    # decoder's default heads (swin_torch.SwinConfig overrides them).
    @property
    def out_tokens(self):
        return self.num_patches

    @property
    def out_dim(self):
        return self.embed_dim

    @property
    def out_heads(self):
        return self.num_heads

    @property
    def pred_channels(self):
        """C' of the prediction [B, C', r, r]: C values, C*K logits (bins) or K (palette)."""
        if self.loss_type == "bins":
            return self.in_chans * self.loss_bins
        if self.loss_type == "palette":
            return self.loss_palette
        return self.in_chans

    @property
    def decoder_out(self):
        """Values each token predicts: s*s*C'."""
        return self.per_token ** 2 * self.pred_channels

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
    """timm's pre-norm block: the encoder's (width D) and the transformer decoder's (width E)."""

    def __init__(self, dim, num_heads, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, scale_attn=None, scale_mlp=None):
        """scale_* are per-sample branch multipliers [B] (drop path), or None."""
        x = add_branch(x, self.attn(self.norm1(x)), scale_attn)
        return add_branch(x, self.mlp(self.norm2(x)), scale_mlp)


def add_branch(x, branch, scale):
    """x + branch, the branch scaled per sample by scale [B] (drop path) unless it is None."""
    return x + (branch if scale is None else branch * scale.view(-1, 1, 1))


# --------------------------------------------------------------------------- SimMIM decoders


class MlpDecoder(nn.Module):
    """The paper's 2-layer MLP per token: decoder.fc1 D -> H, exact GELU, decoder.fc2 H -> out."""

    def __init__(self, dim, hidden, out):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, out)

    def forward(self, t):                                               # [B, N, D] -> [B, N, out]
        return self.fc2(self.act(self.fc1(t)))


class TransformerDecoder(nn.Module):
    """decoder.embed D -> E, + decoder.pos_embed over the token grid (no cls), decoder.blocks
    (timm pre-norm blocks of width E), decoder.norm, decoder.pred E -> out."""

    def __init__(self, dim, num_patches, embed_dim, depth, num_heads, mlp_ratio, out):
        super().__init__()
        self.embed = nn.Linear(dim, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, embed_dim))
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=LN_EPS)
        self.pred = nn.Linear(embed_dim, out)

    def forward(self, t):                                               # [B, N, D] -> [B, N, out]
        t = self.embed(t) + self.pos_embed
        for blk in self.blocks:
            t = blk(t)
        return self.pred(self.norm(t))


def make_decoder(cfg):
    D, out = cfg.out_dim, cfg.decoder_out
    if cfg.decoder_type == "linear":
        # A 1x1 conv is the per-token linear map D -> s*s*C'; PixelShuffle puts output channel
        # c*s*s + i*s + j at pixel (i, j) of channel c, as docs/job-spec.md says.
        return nn.Sequential(nn.Conv2d(D, out, kernel_size=1), nn.PixelShuffle(cfg.per_token))
    if cfg.decoder_type == "mlp":
        return MlpDecoder(D, cfg.decoder_hidden or D, out)
    if cfg.decoder_type == "transformer":
        return TransformerDecoder(D, cfg.out_tokens, cfg.decoder_embed_dim or D,
                                  cfg.decoder_depth, cfg.decoder_num_heads or cfg.out_heads,
                                  cfg.mlp_ratio, out)
    raise ValueError(f"unknown decoder type {cfg.decoder_type!r}")


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
        self.blocks = nn.ModuleList([Block(D, cfg.num_heads, cfg.mlp_ratio)
                                     for _ in range(cfg.depth)])
        if self.pretrain:
            self.norm = nn.LayerNorm(D, eps=LN_EPS)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, D))
            self.decoder = make_decoder(cfg)
            if cfg.loss_type == "palette":
                # decoder.palette [K, C]: the colours in [0, 1] pixel space (k-means at job
                # start in the trainer; set by the caller here). Never trained.
                self.decoder.palette = nn.Parameter(torch.zeros(cfg.loss_palette, cfg.in_chans),
                                                    requires_grad=False)
        else:
            # No final `norm` for the mean-pooled classifier (timm global_pool='avg').
            self.fc_norm = nn.LayerNorm(D, eps=LN_EPS)
            self.head = nn.Linear(D, cfg.num_classes)

    # -- optimisation: layer ids (0 … depth + 1) and weight decay, for param_groups

    @property
    def num_layers(self):
        return self.cfg.depth + 2

    def layer_id(self, name):
        return layer_id(name, self.cfg.depth)

    def wants_decay(self, name, p):
        return wants_decay(name, p)

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
        if cfg.decoder_type == "linear":
            feat = t.transpose(1, 2).reshape(B, D, g, g)
            x_rec = self.decoder(feat)                                  # [B, C', r, r]
        else:
            y = self.decoder(t)                                         # [B, N, s*s*C']
            y = y.transpose(1, 2).reshape(B, cfg.decoder_out, g, g)
            x_rec = F.pixel_shuffle(y, cfg.per_token)                   # [B, C', r, r]
        palette = getattr(self.decoder, "palette", None)
        loss = pretrain_loss(x, x_rec, mask, cfg, palette)
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


def pretrain_target(x, cfg):
    """The normalized images average-pooled to r x r (the images themselves when r = img)."""
    if cfg.resolution == cfg.img_size:
        return x
    return F.avg_pool2d(x, cfg.img_size // cfg.resolution)


def _normalization(cfg, like):
    C = cfg.in_chans
    mean = torch.tensor(cfg.pixel_mean if cfg.pixel_mean else [0.0] * C, dtype=like.dtype)
    std = torch.tensor(cfg.pixel_std if cfg.pixel_std else [1.0] * C, dtype=like.dtype)
    return mean.view(1, C, 1, 1), std.view(1, C, 1, 1)


def pixel_classes(target, cfg, palette=None):
    """The class of each target pixel, from the pooled normalized target [B, C, r, r]:
    bins: [B, C, r, r], clamp(floor(pixel * K), 0, K - 1) per channel;
    palette [K, C]: [B, r, r], the nearest colour by squared distance (ties: the lower k).
    Also returns the margin of the decision (bins: the distance of pixel * K to the nearest
    inner bin edge; palette: the second-nearest squared distance minus the nearest), so that a
    fixture can make sure float32 arithmetic on the C side cannot decide differently."""
    mean, std = _normalization(cfg, target)
    pixel = target * std + mean
    if cfg.loss_type == "bins":
        K = cfg.loss_bins
        v = pixel * K
        classes = v.floor().clamp(0, K - 1).long()
        edge = v.round().clamp(1, K - 1)
        return classes, (v - edge).abs().min().item()
    if cfg.loss_type == "palette":
        pal = palette.to(target.dtype)                                  # [K, C]
        d = ((pixel.unsqueeze(1) - pal.view(1, *pal.shape, 1, 1)) ** 2).sum(2)  # [B, K, r, r]
        classes = d.argmin(1)                                           # the first minimum
        two = d.topk(2, dim=1, largest=False).values
        return classes, (two[:, 1] - two[:, 0]).min().item()
    raise ValueError(f"{cfg.loss_type!r} is not a classification loss")


def pretrain_loss(x, x_rec, mask, cfg, palette=None):
    """SimMIM's loss of the prediction x_rec [B, C', r, r] against the target, the normalized
    images x average-pooled to r x r. Per element: l1, l2, smooth_l1 (beta) on each channel,
    or the softmax cross-entropy of each channel's K bins (bins) or of the K colours (palette).
    Scope "masked": the sum over masked target pixels (the token mask upsampled by s) divided
    by (their count + 1e-5) and by the groups (C, or 1 for palette) -- the reference SimMIM's
    formula; "full": the mean over every element."""
    target = pretrain_target(x, cfg)
    kind = cfg.loss_type
    groups = cfg.in_chans
    if kind == "l1":
        err = (target - x_rec).abs()
    elif kind == "l2":
        err = F.mse_loss(x_rec, target, reduction="none")
    elif kind == "smooth_l1":
        err = F.smooth_l1_loss(x_rec, target, reduction="none", beta=cfg.loss_beta)
    elif kind == "bins":
        B, C, K, r = x.shape[0], cfg.in_chans, cfg.loss_bins, cfg.resolution
        classes, _ = pixel_classes(target, cfg)                         # [B, C, r, r]
        logits = x_rec.reshape(B, C, K, r, r).transpose(1, 2)           # [B, K, C, r, r]
        err = F.cross_entropy(logits, classes, reduction="none")        # [B, C, r, r]
    elif kind == "palette":
        classes, _ = pixel_classes(target, cfg, palette)                # [B, r, r]
        err = F.cross_entropy(x_rec, classes, reduction="none").unsqueeze(1)  # [B, 1, r, r]
        groups = 1
    else:
        raise ValueError(f"unknown loss type {kind!r}")
    if cfg.loss_scope == "full":
        return err.mean()
    if cfg.loss_scope != "masked":
        raise ValueError(f"unknown loss scope {cfg.loss_scope!r}")
    s = cfg.per_patch
    m = mask.to(x.dtype).repeat_interleave(s, 1).repeat_interleave(s, 2)
    m = m.unsqueeze(1)                                                  # [B, 1, r, r]
    # m.sum() counts pixels once (not per channel), hence the final / C.
    return (err * m).sum() / (m.sum() + 1e-5) / groups


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


def _upsample_cells(cells, cfg):
    """[B, M, M] mask cells -> [B, g, g] token mask (float32)."""
    up = cfg.mask_patch_size // cfg.patch_size
    return cells.repeat_interleave(up, 1).repeat_interleave(up, 2).float().contiguous()


def square_mask(batch, cfg, generator=None):
    """docs/job-spec.md's square mask: per image one k x k square of mask cells,
    k = max(1, round(sqrt(ratio) * M)), at a uniformly random position. [B, g, g] float32."""
    mg = cfg.img_size // cfg.mask_patch_size
    k = max(1, round(math.sqrt(cfg.mask_ratio) * mg))
    out = torch.zeros(batch, mg, mg)
    for b in range(batch):
        top, left = (int(v) for v in torch.randint(0, mg - k + 1, (2,), generator=generator))
        out[b, top:top + k, left:left + k] = 1.0
    return _upsample_cells(out, cfg)


def rectangles_mask(rects, batch, cfg):
    """A block mask given as rectangles: rects[b] lists (top, left, height, width) in mask
    cells, which may overlap (as BEiT's do). [B, g, g] float32."""
    mg = cfg.img_size // cfg.mask_patch_size
    out = torch.zeros(batch, mg, mg)
    for b in range(batch):
        for top, left, h, w in rects[b]:
            assert 0 <= top and top + h <= mg and 0 <= left and left + w <= mg
            out[b, top:top + h, left:left + w] = 1.0
    return _upsample_cells(out, cfg)


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
    return init_weights_from(model, g)


@torch.no_grad()
def init_weights_from(model, g):
    """init_weights with a generator of the caller's (which swin_torch goes on drawing from)."""
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
            if mod.bias is not None:  # Swin's patch merging reduction has none
                mod.bias.zero_()
        elif isinstance(mod, nn.LayerNorm):
            mod.weight.fill_(1.0)
            mod.bias.zero_()
    for name in ("cls_token", "pos_embed", "mask_token"):
        if hasattr(model, name):
            _trunc_normal_(getattr(model, name), 0.02, -0.02, 0.02, g)
    decoder = getattr(model, "decoder", None)
    if isinstance(decoder, TransformerDecoder):
        _trunc_normal_(decoder.pos_embed, 0.02, -0.02, 0.02, g)
    return model


# --------------------------------------------------------------------------- optimisation

NO_DECAY_NAMES = ("cls_token", "pos_embed", "mask_token")
LAYER0_PREFIXES = ("patch_embed.",)


def layer_id(name, depth):
    """The ViT's layer ids (swin_torch.swin_layer_id has Swin's)."""
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
    depth = model.num_layers - 2  # the top layer is depth + 1
    groups = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        lid = model.layer_id(name)
        decay = model.wants_decay(name, p)
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
