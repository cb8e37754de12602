"""An independent reader of simmimd checkpoints: checks a .safetensors file against the
safetensors format rules (as the Python `safetensors` package enforces them) and against
docs/checkpoints.md's contract (exact tensor names, shapes, __metadata__ keys). Standard
library only. Usage: check_checkpoint.py FILE [--dump-tensor NAME]. Prints one line; exit 0
when the file conforms, 1 (with the reason) when it does not."""
import json
import struct
import sys


def fail(msg):
    print(f"checkpoint does not conform: {msg}")
    sys.exit(1)


def read(path):
    data = open(path, "rb").read()
    if len(data) < 8:
        fail("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        fail("header length beyond the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        fail("header is not a JSON object")
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        fail("__metadata__ must map strings to strings")
    body = len(data) - 8 - n
    spans = []
    for name, t in header.items():
        if t.get("dtype") != "F32":
            fail(f"{name}: dtype {t.get('dtype')}, expected F32")
        count = 1
        for d in t["shape"]:
            count *= d
        begin, end = t["data_offsets"]
        if end - begin != 4 * count:
            fail(f"{name}: byte span does not match its shape")
        spans.append((begin, end, name))
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            fail(f"{name}: data not contiguous")
        pos = end
    if pos != body:
        fail("tensors do not cover the data section exactly")
    return header, meta, data, 8 + n


def block_tensors(prefix, D, H):
    return {prefix + "norm1.weight": [D], prefix + "norm1.bias": [D],
            prefix + "attn.qkv.weight": [3 * D, D], prefix + "attn.qkv.bias": [3 * D],
            prefix + "attn.proj.weight": [D, D], prefix + "attn.proj.bias": [D],
            prefix + "norm2.weight": [D], prefix + "norm2.bias": [D],
            prefix + "mlp.fc1.weight": [H, D], prefix + "mlp.fc1.bias": [H],
            prefix + "mlp.fc2.weight": [D, H], prefix + "mlp.fc2.bias": [D]}


def section(meta, key):
    """A head section of the metadata, its nulls dropped (null and absent: the default)."""
    return {k: v for k, v in json.loads(meta.get(key, "{}")).items() if v is not None}


def decoder_tensors(cfg, meta, D, grid):
    """The SimMIM decoder's tensors for the metadata's decoder, target and loss sections, on
    the encoder's output: a grid x grid map of width D."""
    C = cfg["in_chans"]
    dec, loss = section(meta, "decoder"), section(meta, "loss")
    s = section(meta, "target").get("resolution", cfg["img_size"]) // grid
    kind = loss.get("type", "l1")
    P = {"bins": C * loss.get("bins", 256), "palette": loss.get("palette", 512)}.get(kind, C)
    out = s * s * P
    t = {}
    dtype = dec.get("type", "linear")
    if dtype == "linear":
        t.update({"decoder.0.weight": [out, D, 1, 1], "decoder.0.bias": [out]})
    elif dtype == "mlp":
        Hd = dec.get("hidden", D)
        t.update({"decoder.fc1.weight": [Hd, D], "decoder.fc1.bias": [Hd],
                  "decoder.fc2.weight": [out, Hd], "decoder.fc2.bias": [out]})
    else:
        E = dec.get("embed_dim", D)
        t.update({"decoder.embed.weight": [E, D], "decoder.embed.bias": [E],
                  "decoder.pos_embed": [1, grid * grid, E]})
        for i in range(dec.get("depth", 2)):
            t.update(block_tensors(f"decoder.blocks.{i}.", E, int(E * cfg["mlp_ratio"])))
        t.update({"decoder.norm.weight": [E], "decoder.norm.bias": [E],
                  "decoder.pred.weight": [out, E], "decoder.pred.bias": [out]})
    if kind == "palette":
        t["decoder.palette"] = [loss.get("palette", 512), C]
    return t


def swin_tensors(cfg, kind, meta):
    """A Swin's (docs/checkpoints.md, Swin tensors: timm's SwinTransformer names)."""
    D0, C, p, W = cfg["embed_dim"], cfg["in_chans"], cfg["patch_size"], cfg["window_size"]
    G = cfg["img_size"] // p
    t = {"patch_embed.proj.weight": [D0, C, p, p], "patch_embed.proj.bias": [D0]}
    if cfg["patch_norm"]:
        t.update({"patch_embed.norm.weight": [D0], "patch_embed.norm.bias": [D0]})
    if cfg["ape"]:
        t["absolute_pos_embed"] = [1, G, G, D0]
    for i, (depth, heads) in enumerate(zip(cfg["depths"], cfg["num_heads"])):
        D, Gi = D0 << i, G >> i
        if i > 0:
            t.update({f"layers.{i}.downsample.norm.weight": [2 * D],
                      f"layers.{i}.downsample.norm.bias": [2 * D],
                      f"layers.{i}.downsample.reduction.weight": [D, 2 * D]})
        Wi = min(W, Gi)
        for j in range(depth):
            prefix = f"layers.{i}.blocks.{j}."
            t.update(block_tensors(prefix, D, int(D * cfg["mlp_ratio"])))
            t[prefix + "attn.relative_position_bias_table"] = [(2 * Wi - 1) ** 2, heads]
    Do = D0 << (len(cfg["depths"]) - 1)
    t.update({"norm.weight": [Do], "norm.bias": [Do]})
    if kind == "pretrain":
        t["mask_token"] = [1, 1, D0]
        t.update(decoder_tensors(cfg, meta, Do, G >> (len(cfg["depths"]) - 1)))
    else:
        K = cfg["num_classes"]
        t.update({"head.fc.weight": [K, Do], "head.fc.bias": [K]})
    return t


def expected_tensors(cfg, kind, meta):
    if cfg.get("arch", "vit") == "swin":
        return swin_tensors(cfg, kind, meta)
    D, C, p = cfg["embed_dim"], cfg["in_chans"], cfg["patch_size"]
    H, N = int(D * cfg["mlp_ratio"]), (cfg["img_size"] // p) ** 2
    t = {"patch_embed.proj.weight": [D, C, p, p], "patch_embed.proj.bias": [D],
         "cls_token": [1, 1, D], "pos_embed": [1, 1 + N, D]}
    for i in range(cfg["depth"]):
        t.update(block_tensors(f"blocks.{i}.", D, H))
    if kind == "pretrain":
        t.update({"norm.weight": [D], "norm.bias": [D], "mask_token": [1, 1, D]})
        t.update(decoder_tensors(cfg, meta, D, cfg["img_size"] // p))
    else:
        K = cfg["num_classes"]
        t.update({"fc_norm.weight": [D], "fc_norm.bias": [D], "head.weight": [K, D], "head.bias": [K]})
    return t


def main():
    path = sys.argv[1]
    header, meta, data, base = read(path)
    for key in ["format", "version", "config", "kind", "step", "seed", "mean", "std", "pad"]:
        if key not in meta:
            fail(f"__metadata__ lacks {key}")
    if meta["format"] != "simmimd-1":
        fail("format is not simmimd-1")
    kind = meta["kind"]
    if kind == "pretrain" and not ("mask" in meta and "loss" in meta):
        fail("a pretraining checkpoint's __metadata__ needs mask and loss")
    want = expected_tensors(json.loads(meta["config"]), kind, meta)
    got = {name: t["shape"] for name, t in header.items()}
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        wrong = sorted(n for n in set(want) & set(got) if want[n] != got[n])
        fail(f"names/shapes differ from the contract: missing {missing[:5]}, extra {extra[:5]}, "
             f"wrong shape {wrong[:5]}")
    if len(sys.argv) == 4 and sys.argv[2] == "--dump-tensor":
        begin, end = header[sys.argv[3]]["data_offsets"]
        vals = struct.unpack(f"<{(end - begin) // 4}f", data[base + begin:base + end])
        print(json.dumps(vals[:8]))
        return
    print(f"ok: {len(got)} tensors, kind {kind}, step {meta['step']}, "
          f"{len(data) - base} bytes of F32 data")


main()
