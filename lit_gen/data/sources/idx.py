"""Reader (and a small writer) for the IDX format used by MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by the raw array::

    0x00 0x00 <dtype code> <ndim>      the "magic number" (MNIST images: 2051, labels: 2049)
    ndim x uint32                       the dimensions
    prod(dims) x dtype                  the data, row-major

Files may be gzip-compressed or raw; gzip is detected from the content (the
``1f 8b`` signature), not from the file name. Every problem with a file (bad
magic, truncated or over-long data, broken gzip stream) raises
:class:`~lit_gen.errors.UserError` naming the path.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from lit_gen.errors import UserError

# IDX dtype code -> numpy dtype (big-endian as stored)
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {v.newbyteorder("="): k for k, v in IDX_DTYPES.items()}

GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path) -> bytes:
    """The file's content, gunzipped if it is a gzip file. Raises UserError if unreadable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror or e})") from None
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise UserError(f"{path}: corrupt gzip file ({e}); re-download or re-copy it") from None
    return data


def parse_idx(data: bytes, path="<bytes>") -> np.ndarray:
    """Decode IDX bytes to a writable native-endian numpy array."""
    if len(data) < 4:
        raise UserError(f"{path}: not an IDX file (only {len(data)} bytes); the file is truncated or empty")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in IDX_DTYPES or ndim == 0:
        magic = struct.unpack(">I", data[:4])[0]
        raise UserError(
            f"{path}: bad IDX magic number {magic} (0x{magic:08x}); expected 0x0000TTNN "
            f"(e.g. 2051 for MNIST images, 2049 for labels); the file is corrupt or not an IDX file"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path}: truncated IDX header ({len(data)} bytes, expected at least {header})")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[code]
    count = int(np.prod(dims, dtype=np.int64))
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "too long"
        raise UserError(
            f"{path}: {what} IDX file ({len(data)} bytes, expected {expected} for shape {tuple(dims)} "
            f"{dtype.name}); re-download or re-copy it"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    # own the memory (frees the bytes object), native byte order, writable
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path, expect_ndim: Optional[int] = None, expect_dtype=None) -> np.ndarray:
    """Read a (possibly gzipped) IDX file into a numpy array.

    ``expect_ndim`` / ``expect_dtype`` turn a well-formed file of the wrong kind
    (e.g. a label file where images were expected) into a UserError as well.
    """
    path = Path(path)
    arr = parse_idx(read_bytes(path), path)
    if expect_ndim is not None and arr.ndim != expect_ndim:
        raise UserError(
            f"{path}: IDX file holds a {arr.ndim}-D array of shape {arr.shape}; expected {expect_ndim}-D "
            f"(is it the wrong file?)"
        )
    if expect_dtype is not None and arr.dtype != np.dtype(expect_dtype):
        raise UserError(f"{path}: IDX file holds {arr.dtype.name} data; expected {np.dtype(expect_dtype).name}")
    return arr


def encode_idx(arr: np.ndarray) -> bytes:
    """IDX bytes of ``arr`` (uint8, int8, int16, int32, float32 or float64)."""
    arr = np.asarray(arr)
    native = arr.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}")
    code = _CODES[native]
    head = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + np.ascontiguousarray(arr, dtype=IDX_DTYPES[code]).tobytes()


def write_idx(path, arr: np.ndarray) -> Path:
    """Write ``arr`` as IDX; gzip-compressed when ``path`` ends in ``.gz``."""
    path = Path(path)
    data = encode_idx(arr)
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path.write_bytes(data)
    return path
