"""Writes a damaged copy of a safetensors checkpoint for bad-input tests.
Usage: tamper_checkpoint.py SRC DST rename OLD NEW | drop-row NAME | nan NAME | truncate BYTES
                                    | flip [OFFSET]
  rename OLD NEW  renames a tensor (a name the model does not know)
  drop-row NAME   removes the first row of a tensor (a shape the model does not expect)
  nan NAME        fills a tensor with NaN (training from it must fail, not run on)
  truncate BYTES  cuts the file to BYTES bytes
  flip [OFFSET]   flips the lowest bit of the byte at OFFSET (default: the middle of the
                  tensor data, so the file still reads as a checkpoint); DST may be SRC, and
                  is then changed in place (same inode, a new mtime)"""
import json
import struct
import sys

src, dst, action = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(src, "rb").read()
if action == "truncate":
    open(dst, "wb").write(data[:int(sys.argv[4])])
    sys.exit(0)
if action == "flip":
    (n,) = struct.unpack("<Q", data[:8])
    at = int(sys.argv[4]) if len(sys.argv) > 4 else 8 + n + (len(data) - 8 - n) // 2
    changed = bytearray(data)
    changed[at] ^= 1
    with open(dst, "r+b" if dst == src else "wb") as f:
        f.write(changed)
    sys.exit(0)
(n,) = struct.unpack("<Q", data[:8])
header = json.loads(data[8:8 + n])
body = data[8 + n:]
meta = header.pop("__metadata__", None)
tensors = {k: (v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items()}
if action == "rename":
    tensors[sys.argv[5]] = tensors.pop(sys.argv[4])
elif action == "nan":
    shape, raw = tensors[sys.argv[4]]
    tensors[sys.argv[4]] = (shape, struct.pack("<f", float("nan")) * (len(raw) // 4))
elif action == "drop-row":
    shape, raw = tensors[sys.argv[4]]
    row = len(raw) // shape[0]
    tensors[sys.argv[4]] = ([shape[0] - 1] + shape[1:], raw[row:])
out_header, out_body = {}, b""
if meta is not None:
    out_header["__metadata__"] = meta
for name, (shape, raw) in tensors.items():
    out_header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(out_body), len(out_body) + len(raw)]}
    out_body += raw
text = json.dumps(out_header).encode()
text += b" " * (-len(text) % 8)
open(dst, "wb").write(struct.pack("<Q", len(text)) + text + out_body)
