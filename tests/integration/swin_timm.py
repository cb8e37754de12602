"""A simmimd Swin fine-tuning checkpoint in timm's SwinTransformer: the file's tensors load with
strict key matching (no name missing, none left over, every shape equal) into
tests/golden/swin_torch.py's model — timm's SwinTransformer module names and shapes, written with
plain torch.nn (timm is not in Debian), with relative_position_index and the attention masks as
non-persistent buffers as timm's — and classify the test split of an IDX dataset, prepared as
docs/checkpoints.md says (pixels / 255, zero-padded by the metadata's pad, normalized by its
mean and std). Usage: swin_timm.py CHECKPOINT IDX_DIR. Prints one JSON line: the images, top1
(percent) and val_loss (mean cross-entropy), to compare with simmim-eval's on the same files,
or {"error": ...} and exit status 1 when the file does not load strictly."""
import gzip
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
import swin_torch  # noqa: E402


def read_safetensors(path):
    """The tensors (torch, float32) and the metadata of a safetensors file."""
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = bytearray(data[8 + n:])
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        tensors[name] = torch.frombuffer(body[begin:end], dtype=torch.float32).reshape(t["shape"])
    return tensors, meta


def read_idx(folder, stem):
    """An IDX file of the folder, raw or gzip-compressed, as a uint8 tensor of its shape."""
    path = os.path.join(folder, stem)
    with open(path, "rb") if os.path.exists(path) else gzip.open(path + ".gz") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def swin_of(cfg):
    """The fine-tuning model of a checkpoint's config metadata."""
    return swin_torch.SimMIMSwin(swin_torch.SwinConfig(
        img_size=cfg["img_size"], patch_size=cfg["patch_size"], in_chans=cfg["in_chans"],
        embed_dim=cfg["embed_dim"], mlp_ratio=cfg["mlp_ratio"], num_classes=cfg["num_classes"],
        depths=tuple(cfg["depths"]), stage_heads=tuple(cfg["num_heads"]),
        window_size=cfg["window_size"], ape=cfg["ape"], patch_norm=cfg["patch_norm"]))


def main():
    path, folder = sys.argv[1], sys.argv[2]
    tensors, meta = read_safetensors(path)
    cfg = json.loads(meta["config"])
    model = swin_of(cfg).eval()
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        print(json.dumps({"error": str(e).replace("\n", " ")}))
        sys.exit(1)
    images = read_idx(folder, "t10k-images-idx3-ubyte").float() / 255
    labels = read_idx(folder, "t10k-labels-idx1-ubyte").long()
    pad = int(meta["pad"])
    mean = torch.tensor(json.loads(meta["mean"])).view(1, -1, 1, 1)
    std = torch.tensor(json.loads(meta["std"])).view(1, -1, 1, 1)
    x = (F.pad(images.unsqueeze(1), (pad, pad, pad, pad)) - mean) / std
    with torch.no_grad():
        logits = model.head.fc(model.features(x).mean(dim=1))
    top1 = 100.0 * int((logits.argmax(dim=1) == labels).sum()) / len(labels)
    loss = F.cross_entropy(logits.double(), labels).item()
    print(json.dumps({"images": len(labels), "top1": top1, "val_loss": loss,
                      "tensors": len(tensors)}))


main()
