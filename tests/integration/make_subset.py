"""Writes the first N training and M test images of an IDX dataset (e.g. Debian's
Fashion-MNIST) to OUT_DIR: the training files gzip-compressed, the test files raw, so both
readers are exercised. With BORDER, every image gets that many zero pixels on each side (a
dataset of another image size). Usage: make_subset.py SRC_DIR OUT_DIR N M [BORDER]"""
import gzip
import os
import struct
import sys


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read()


def head(data, count):
    magic, n = struct.unpack(">II", data[:8])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * (dims - 1), data[8:4 + 4 * dims]) if dims > 1 else ()
    record = 1
    for d in shape:
        record *= d
    start = 4 + 4 * dims
    return data[:4] + struct.pack(">I", count) + data[8:start] + data[start:start + count * record]


def bordered(data, border):
    """IDX images with `border` zero pixels added on each side."""
    n, rows, cols = struct.unpack(">III", data[4:16])
    out = bytearray(data[:4] + struct.pack(">III", n, rows + 2 * border, cols + 2 * border))
    blank_row = bytes(cols + 2 * border)
    for i in range(n):
        image = data[16 + i * rows * cols:16 + (i + 1) * rows * cols]
        out += blank_row * border
        for r in range(rows):
            out += bytes(border) + image[r * cols:(r + 1) * cols] + bytes(border)
        out += blank_row * border
    return bytes(out)


src, out, n_train, n_test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
border = int(sys.argv[5]) if len(sys.argv) > 5 else 0
os.makedirs(out, exist_ok=True)
for split, count, compress in (("train", n_train, True), ("t10k", n_test, False)):
    for kind in ("images-idx3", "labels-idx1"):
        name = f"{split}-{kind}-ubyte"
        data = head(read_idx(os.path.join(src, name + ".gz")), count)
        if border and kind == "images-idx3":
            data = bordered(data, border)
        if compress:
            with gzip.open(os.path.join(out, name + ".gz"), "wb") as f:
                f.write(data)
        else:
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
