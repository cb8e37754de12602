"""Reference PyTorch Swin Transformer for simmimd's golden tests: the encoder of SimMIM-Swin
(microsoft/SimMIM models/swin_transformer.py, simmim.py) with timm's current SwinTransformer
tensor names (patch_embed.{proj,norm}, absolute_pos_embed [1, G, G, C],
layers.{i}.downsample.{norm,reduction} at the start of stages 1 ... S-1,
layers.{i}.blocks.{j}.{norm1, attn.{qkv, proj, relative_position_bias_table}, norm2, mlp.fc1,
mlp.fc2}, norm, head.fc), written from the paper and docs/checkpoints.md with plain torch.nn for
Debian's PyTorch (timm is not available there). relative_position_index and the attention masks
are buffers, not parameters, so state_dict() leaves them out as the checkpoints do.

Pretraining (num_classes 0) is SimMIM's: the mask token replaces masked patches right after the
patch embedding (and its norm), the final norm's feature map at stride p * 2^(S-1) goes to the
SimMIM decoder of simmim_torch (linear = 1x1 conv + pixel shuffle; mlp; transformer) and the
same loss. Fine-tuning: the final norm on every token, their mean, head.fc, cross-entropy with
label smoothing, drop path per block (rates linspace(0, drop_path, sum(depths)), decisions given
as drop_keep [sum(depths), 2, B] as the ViT's).
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

import simmim_torch as st

LN_EPS = 1e-5  # timm's Swin uses nn.LayerNorm's default


@dataclass
class SwinConfig(st.Config):
    arch: str = "swin"
    depths: tuple = (2, 2)
    stage_heads: tuple = (2, 4)
    window_size: int = 4
    ape: bool = False
    patch_norm: bool = True

    @property
    def stages(self):
        return len(self.depths)

    def stage_grid(self, i):
        return self.grid >> i

    def stage_dim(self, i):
        return self.embed_dim << i

    @property
    def out_grid(self):
        return self.stage_grid(self.stages - 1)

    @property
    def per_token(self):
        """s = r / the output grid: target pixels per output token side."""
        return self.resolution // self.out_grid

    @property
    def out_tokens(self):
        return self.out_grid ** 2

    @property
    def out_dim(self):
        return self.stage_dim(self.stages - 1)

    @property
    def out_heads(self):
        return self.stage_heads[-1]


def relative_position_index(W):
    """[W*W, W*W]: (yi - yj + W - 1) * (2W - 1) + (xi - xj + W - 1)."""
    ys, xs = torch.meshgrid(torch.arange(W), torch.arange(W), indexing="ij")
    y, x = ys.flatten(), xs.flatten()
    dy = y[:, None] - y[None, :] + W - 1
    dx = x[:, None] - x[None, :] + W - 1
    return dy * (2 * W - 1) + dx


def window_partition(x, W):
    """[B, G, G, C] -> [B * (G/W)^2, W*W, C], windows row-major."""
    B, G, _, C = x.shape
    x = x.view(B, G // W, W, G // W, W, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, W * W, C)


def window_reverse(windows, W, G):
    """The inverse of window_partition: -> [B, G, G, C]."""
    C = windows.shape[-1]
    x = windows.view(-1, G // W, G // W, W, W, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, G, G, C)


def shifted_window_mask(G, W, shift):
    """[(G/W)^2, W*W, W*W]: 0 within a region of the rolled grid, -100 across regions."""
    regions = torch.zeros(1, G, G, 1)
    cuts = (slice(0, -W), slice(-W, -shift), slice(-shift, None))
    label = 0
    for h in cuts:
        for w in cuts:
            regions[:, h, w, :] = label
            label += 1
    r = window_partition(regions, W).squeeze(-1)                      # [nW, W*W]
    diff = r.unsqueeze(1) - r.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class WindowAttention(nn.Module):
    def __init__(self, dim, num_heads, window):
        super().__init__()
        self.num_heads, self.window = num_heads, window
        self.scale = (dim // num_heads) ** -0.5
        # Created first, as timm's: state_dict order within a block follows.
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window),
                             persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask=None):
        Bw, N, C = x.shape
        qkv = self.qkv(x).reshape(Bw, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)                          # [Bw, H, N, hd]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(N, N, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(Bw // nW, nW, self.num_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, N, N)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(Bw, N, C))


class SwinBlock(nn.Module):
    def __init__(self, dim, grid, num_heads, window, shift, mlp_ratio):
        super().__init__()
        if grid <= window:  # one window over the whole map, no shift
            window, shift = grid, 0
        self.grid, self.window, self.shift = grid, window, shift
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = WindowAttention(dim, num_heads, window)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = st.Mlp(dim, int(dim * mlp_ratio))
        mask = shifted_window_mask(grid, window, shift) if shift else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def forward(self, x, scale_attn=None, scale_mlp=None):
        B, L, C = x.shape
        G, W, s = self.grid, self.window, self.shift
        h = self.norm1(x).view(B, G, G, C)
        if s:
            h = torch.roll(h, shifts=(-s, -s), dims=(1, 2))
        mask = None if self.attn_mask is None else self.attn_mask.to(x.dtype)
        h = window_reverse(self.attn(window_partition(h, W), mask), W, G)
        if s:
            h = torch.roll(h, shifts=(s, s), dims=(1, 2))
        x = st.add_branch(x, h.reshape(B, L, C), scale_attn)
        return st.add_branch(x, self.mlp(self.norm2(x)), scale_mlp)


class PatchMerging(nn.Module):
    """[B, G*G, C] -> [B, (G/2)^2, 2C]: the 2x2 neighbours concatenated in timm's order
    (x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]), LayerNorm(4C), Linear without
    bias."""

    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim, eps=LN_EPS)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x, G):
        B, _, C = x.shape
        x = x.view(B, G, G, C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(B, -1, 4 * C)))


class Stage(nn.Module):
    def __init__(self, cfg, i):
        super().__init__()
        if i > 0:
            self.downsample = PatchMerging(cfg.stage_dim(i - 1))
        W = cfg.window_size
        self.blocks = nn.ModuleList([
            SwinBlock(cfg.stage_dim(i), cfg.stage_grid(i), cfg.stage_heads[i], W,
                      W // 2 if j % 2 else 0, cfg.mlp_ratio) for j in range(cfg.depths[i])])


class PatchEmbed(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, cfg.patch_size, stride=cfg.patch_size)
        if cfg.patch_norm:
            self.norm = nn.LayerNorm(cfg.embed_dim, eps=LN_EPS)

    def forward(self, x):
        x = self.proj(x).flatten(2).transpose(1, 2)                    # [B, G*G, C], row-major
        return self.norm(x) if hasattr(self, "norm") else x


class SimMIMSwin(nn.Module):
    """Pretraining: forward(x, mask) -> (loss, x_rec); fine-tuning: forward(x, labels,
    drop_keep) -> (loss, logits), as simmim_torch.SimMIMViT."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.pretrain = cfg.num_classes == 0
        self.patch_embed = PatchEmbed(cfg)
        if cfg.ape:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, cfg.grid, cfg.grid, cfg.embed_dim))
        if self.pretrain:
            self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.layers = nn.ModuleList([Stage(cfg, i) for i in range(cfg.stages)])
        self.norm = nn.LayerNorm(cfg.out_dim, eps=LN_EPS)
        if self.pretrain:
            self.decoder = st.make_decoder(cfg)
        else:
            self.head = nn.Module()
            self.head.fc = nn.Linear(cfg.out_dim, cfg.num_classes)

    # -- optimisation (simmim_torch.param_groups)

    @property
    def num_layers(self):
        return sum(self.cfg.depths) + 2

    def layer_id(self, name):
        return swin_layer_id(name, self.cfg.depths)

    def wants_decay(self, name, p):
        return not (p.ndim <= 1 or name.endswith(".bias") or
                    name in ("absolute_pos_embed", "mask_token") or
                    "relative_position_bias_table" in name)

    # -- forward passes

    def features(self, x, mask=None, drop_keep=None):
        """The final norm's tokens [B, out_tokens, out_dim]."""
        cfg = self.cfg
        t = self.patch_embed(x)
        B, L, C = t.shape
        if mask is not None:
            w = mask.flatten(1).unsqueeze(-1).to(t.dtype)
            t = t * (1.0 - w) + self.mask_token.expand(B, L, -1) * w
        if cfg.ape:
            t = t + self.absolute_pos_embed.view(1, L, C)
        n = sum(cfg.depths)
        rates = [cfg.drop_path * k / (n - 1) if n > 1 else 0.0 for k in range(n)]
        k = 0
        for i, stage in enumerate(self.layers):
            if i > 0:
                t = stage.downsample(t, cfg.stage_grid(i - 1))
            for blk in stage.blocks:
                sa = sm = None
                if drop_keep is not None and rates[k] > 0.0:
                    keep = drop_keep[k].to(t.dtype)
                    sa, sm = keep[0] / (1.0 - rates[k]), keep[1] / (1.0 - rates[k])
                t = blk(t, sa, sm)
                k += 1
        return self.norm(t)

    def forward_pretrain(self, x, mask):
        cfg = self.cfg
        t = self.features(x, mask)
        B, N, D = t.shape
        g = cfg.out_grid
        if cfg.decoder_type == "linear":
            x_rec = self.decoder(t.transpose(1, 2).reshape(B, D, g, g))
        else:
            y = self.decoder(t).transpose(1, 2).reshape(B, cfg.decoder_out, g, g)
            x_rec = F.pixel_shuffle(y, cfg.per_token)
        return st.pretrain_loss(x, x_rec, mask, cfg), x_rec

    def forward_finetune(self, x, labels, drop_keep=None):
        logits = self.head.fc(self.features(x, drop_keep=drop_keep).mean(dim=1))
        loss = F.cross_entropy(logits, labels.long(), label_smoothing=self.cfg.label_smoothing)
        return loss, logits

    def forward(self, x, arg, drop_keep=None):
        if self.pretrain:
            return self.forward_pretrain(x, arg)
        return self.forward_finetune(x, arg, drop_keep)


def swin_layer_id(name, depths):
    """Layer-wise lr decay's ids (the reference's, in timm's names): patch_embed.* and
    mask_token 0; layers.{i}.blocks.{j}.* sum(depths[:i]) + j + 1; layers.{i}.downsample.*
    sum(depths[:i]) (timm's merge starts stage i); everything else sum(depths) + 1."""
    if name == "mask_token" or name.startswith("patch_embed."):
        return 0
    if name.startswith("layers."):
        parts = name.split(".")
        i = int(parts[1])
        if parts[2] == "downsample":
            return sum(depths[:i])
        return sum(depths[:i]) + int(parts[3]) + 1
    return sum(depths) + 1


@torch.no_grad()
def init_weights(model, seed):
    """simmim_torch's initialisation, then the Swin tensors it does not know: the relative
    position bias tables N(0, 0.02) cut at +-2, absolute_pos_embed as pos_embed."""
    g = torch.Generator().manual_seed(seed)
    st.init_weights_from(model, g)
    for name, p in model.named_parameters():
        if name.endswith("relative_position_bias_table"):
            st._trunc_normal_(p, 0.02, -2.0, 2.0, g)
        elif name == "absolute_pos_embed":
            st._trunc_normal_(p, 0.02, -0.02, 0.02, g)
    return model
