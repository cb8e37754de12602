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


def expected_tensors(cfg, kind):
    D, C, p = cfg["embed_dim"], cfg["in_chans"], cfg["patch_size"]
    H, N = int(D * cfg["mlp_ratio"]), (cfg["img_size"] // p) ** 2
    t = {"patch_embed.proj.weight": [D, C, p, p], "patch_embed.proj.bias": [D],
         "cls_token": [1, 1, D], "pos_embed": [1, 1 + N, D]}
    for i in range(cfg["depth"]):
        b = f"blocks.{i}."
        t.update({b + "norm1.weight": [D], b + "norm1.bias": [D],
                  b + "attn.qkv.weight": [3 * D, D], b + "attn.qkv.bias": [3 * D],
                  b + "attn.proj.weight": [D, D], b + "attn.proj.bias": [D],
                  b + "norm2.weight": [D], b + "norm2.bias": [D],
                  b + "mlp.fc1.weight": [H, D], b + "mlp.fc1.bias": [H],
                  b + "mlp.fc2.weight": [D, H], b + "mlp.fc2.bias": [D]})
    if kind == "pretrain":
        t.update({"norm.weight": [D], "norm.bias": [D], "mask_token": [1, 1, D],
                  "decoder.0.weight": [p * p * C, D, 1, 1], "decoder.0.bias": [p * p * C]})
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
    want = expected_tensors(json.loads(meta["config"]), kind)
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
