"""Prints "<sha256 of the tensor data> <sha256 of the tensor table>" of a safetensors file:
the raw bytes after the header (every tensor, in the header's order) and the header's tensor
entries (names, dtypes, shapes, offsets) without __metadata__, whose job id and version differ
between jobs that trained the same weights (docs/checkpoints.md). Two checkpoints with both
digests equal hold bit-identical weights under the same names and shapes.
Usage: tensor_digest.py FILE"""
import hashlib
import json
import struct
import sys

with open(sys.argv[1], "rb") as f:
    blob = f.read()
(header_len,) = struct.unpack_from("<Q", blob, 0)
header = json.loads(blob[8:8 + header_len])
header.pop("__metadata__", None)
table = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
print(hashlib.sha256(blob[8 + header_len:]).hexdigest(), hashlib.sha256(table).hexdigest())
