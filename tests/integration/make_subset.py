"""Writes the first N training and M test images of an IDX dataset (e.g. Debian's
Fashion-MNIST) to OUT_DIR: the training files gzip-compressed, the test files raw, so both
readers are exercised. Usage: make_subset.py SRC_DIR OUT_DIR N M"""
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


src, out, n_train, n_test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(out, exist_ok=True)
for split, count, compress in (("train", n_train, True), ("t10k", n_test, False)):
    for kind in ("images-idx3", "labels-idx1"):
        name = f"{split}-{kind}-ubyte"
        data = head(read_idx(os.path.join(src, name + ".gz")), count)
        if compress:
            with gzip.open(os.path.join(out, name + ".gz"), "wb") as f:
                f.write(data)
        else:
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
