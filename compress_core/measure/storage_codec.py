"""Deep Compression's storage format (Han et al. 2016, sections 2 and 4): a real encoder and decoder.

The size a Deep Compression run reports is the length of the file written here, and the file
decodes back to the very weights the run evaluated (`decode(encode(...))` is exact).

Each pruned weight tensor (flattened, row-major) is stored as a list of entries, one per
surviving weight, in order. An entry is

- a **relative index**: the distance from the previous entry, `index_bits` wide (the paper: 8 bits
  for conv, 5 for fully connected layers), stored as distance - 1, so 1..2^w. When the next
  surviving weight is further than 2^w positions away, a **padding zero** (filler) entry is put
  2^w positions on, as in the paper's Figure 2;
- a **value**: with a codebook (weight sharing), the index of the weight's centroid, or the
  filler symbol K (= codebook size) for a padding zero; without one (the pruning stage), the fp32
  value itself (0.0 for a filler).

Values and relative indices are either packed at a fixed width or Huffman coded (section 4);
the Huffman code is canonical, so its table is one code length per symbol. Every other tensor
(biases, normalisation statistics) is stored raw in its own dtype.

File layout: magic `CLDC`, version, flags, tensor count; one header per tensor (name, shape and,
for coded tensors, codebook size, widths, entry count and stream lengths); then per tensor its
codebook (fp32), Huffman tables (one byte per symbol and the end marker), value stream and index
stream, or its raw bytes. `Encoded.breakdown` says where every byte goes (header, codebooks,
huffman_tables, values, indices, biases); its parts add up to the file length.

Hand-written: the container, fixed-width bit packing (numpy has no packer for widths other than
one bit) and the canonical code assignment (dahuffman builds Huffman codes from frequencies and
codes/decodes streams, but its code tables are not canonical and its own `save` pickles them;
canonical codes need only the code lengths in the file). Huffman coding itself is dahuffman's.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np
import torch
from dahuffman.huffmancodec import HuffmanCodec, PrefixCodec

from compress_core.errors import CompressError

MAGIC = b"CLDC"
VERSION = 1
FLAG_HUFFMAN = 1
RAW, CODED = 0, 1
MAX_INDEX_BITS = 16
MAX_CODEBOOK = 65535
# dtypes of raw tensors, by code in the file
DTYPES = ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool")
PARTS = ("header", "codebooks", "huffman_tables", "values", "indices", "biases")


@dataclass
class Encoded:
    """The file's bytes, where they go (`breakdown`, adding up to `len(data)`), and bytes per tensor."""

    data: bytes
    breakdown: dict = field(default_factory=dict)
    per_tensor: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)


# ---------------------------------------------------------------- bit packing (hand-written, see above)
def pack(symbols: np.ndarray, width: int) -> bytes:
    """Unsigned integers `symbols` (each < 2^width), `width` bits each, most significant bit first."""
    symbols = np.asarray(symbols, dtype=np.int64)
    if not len(symbols):
        return b""
    bits = (symbols[:, None] >> np.arange(width - 1, -1, -1)) & 1
    return np.packbits(bits.astype(np.uint8).reshape(-1)).tobytes()


def unpack(data: bytes, width: int, count: int) -> np.ndarray:
    """Inverse of `pack`: `count` integers of `width` bits."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=count * width).reshape(count, width)
    return bits.astype(np.int64) @ (np.int64(1) << np.arange(width - 1, -1, -1, dtype=np.int64))


# ---------------------------------------------------------------- Huffman (dahuffman + canonical codes)
def code_lengths(counts: np.ndarray) -> np.ndarray:
    """Huffman code length of every symbol (0 for unused ones) plus the end marker, the last entry.

    dahuffman builds the tree from the counts; the end marker (needed to find the end of a stream
    that does not fill its last byte) gets count 1, as dahuffman gives its own.
    """
    eof = len(counts)
    freqs = {s: int(c) for s, c in enumerate(counts) if c > 0}
    lengths = np.zeros(len(counts) + 1, dtype=np.int64)
    for symbol, (bits, _) in HuffmanCodec.from_frequencies(freqs, concat=list, eof=eof).get_code_table().items():
        lengths[symbol] = bits
    if lengths.max() > 255:  # needs counts near 2^180; a byte per length holds every real case
        raise CompressError(f"a Huffman code of {lengths.max()} bits does not fit the file's one-byte code lengths")
    return lengths


def canonical_codec(lengths: np.ndarray) -> PrefixCodec:
    """The canonical prefix code of these code lengths (symbols in order of (length, symbol));
    the last symbol is the end marker."""
    table, code, previous = {}, 0, 0
    for symbol in sorted((s for s in range(len(lengths)) if lengths[s]), key=lambda s: (lengths[s], s)):
        code <<= int(lengths[symbol]) - previous
        previous = int(lengths[symbol])
        table[symbol] = (previous, code)
        code += 1
    return PrefixCodec(table, concat=list, eof=len(lengths) - 1)


def _huffman(symbols: np.ndarray, alphabet: int) -> tuple[bytes, bytes]:
    """(table: one byte per symbol and the end marker, coded stream)."""
    lengths = code_lengths(np.bincount(symbols, minlength=alphabet))
    return lengths.astype(np.uint8).tobytes(), canonical_codec(lengths).encode(symbols.tolist())


def _unhuffman(table: bytes, stream: bytes, count: int, what: str) -> np.ndarray:
    symbols = canonical_codec(np.frombuffer(table, dtype=np.uint8).astype(np.int64)).decode(stream)
    if len(symbols) != count:
        raise CompressError(f"corrupt storage file: {what} decodes to {len(symbols)} entries, expected {count}")
    return np.asarray(symbols, dtype=np.int64)


# ---------------------------------------------------------------- sparse entries
def relative_entries(flat: np.ndarray, index_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(stored relative indices (distance - 1), positions of the entries; -1 where an entry is a
    padding zero) for the non-zeros of `flat` with `index_bits`-wide relative indices."""
    span = 1 << index_bits
    positions = np.flatnonzero(flat)
    gaps = np.diff(np.concatenate(([-1], positions)))
    fillers = (gaps - 1) // span  # padding zeros before each non-zero
    count = len(positions) + int(fillers.sum())
    rel = np.full(count, span - 1, dtype=np.int64)  # fillers jump the whole span
    real = np.cumsum(fillers + 1) - 1  # where each real entry lands
    rel[real] = gaps - fillers * span - 1
    source = np.full(count, -1, dtype=np.int64)
    source[real] = positions
    return rel, source


def _value_width(alphabet: int) -> int:
    return max(1, int(alphabet - 1).bit_length())


def _to_numpy(tensor) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().contiguous().numpy()
    return np.ascontiguousarray(tensor)


def _symbols(values: np.ndarray, codebook: np.ndarray, name: str) -> np.ndarray:
    """The codebook index of every value (each must be one of the codebook's entries exactly)."""
    order = np.argsort(codebook, kind="stable")
    where = np.clip(np.searchsorted(codebook[order], values), 0, len(codebook) - 1)
    symbols = order[where]
    if len(values) and not np.array_equal(codebook[symbols], values):
        bad = values[codebook[symbols] != values][0]
        raise CompressError(f"tensor {name!r}: value {float(bad)!r} is not in its codebook of {len(codebook)} entries")
    return symbols


# ---------------------------------------------------------------- encode
def encode(state: Mapping[str, object], index_bits: Mapping[str, int],
           codebooks: Optional[Mapping[str, object]] = None, *, huffman: bool = True) -> Encoded:
    """The storage file of `state` (name -> tensor), in its order.

    Tensors named in `index_bits` are stored sparsely with relative indices of that width; those
    also named in `codebooks` store centroid indices (every non-zero value must be a codebook
    entry), the others fp32 values. `huffman` codes values (with a codebook) and relative indices;
    otherwise they are packed at fixed widths. Every other tensor is stored raw.
    """
    codebooks = codebooks or {}
    unknown = sorted(set(index_bits) - set(state)) + sorted(set(codebooks) - set(index_bits))
    if unknown:
        raise CompressError(f"no sparse weight tensor named {', '.join(unknown)} to encode")
    if len(state) > 65535:
        raise CompressError(f"the storage file holds at most 65535 tensors; got {len(state)}")
    parts = dict.fromkeys(PARTS, 0)
    heads, bodies, per_tensor = [], [], {}
    for name, tensor in state.items():
        array = _to_numpy(tensor)
        raw_name = name.encode()
        if len(raw_name) > 255 or array.ndim > 255:
            raise CompressError(f"tensor name {name!r} (or its {array.ndim} dimensions) does not fit the file")
        head = struct.pack("<B", len(raw_name)) + raw_name
        if name not in index_bits:
            dtype = str(array.dtype)
            if dtype not in DTYPES:
                raise CompressError(f"tensor {name!r}: dtype {dtype} cannot be stored; allowed: {', '.join(DTYPES)}")
            head += struct.pack("<BB", RAW, array.ndim) + struct.pack(f"<{array.ndim}I", *array.shape)
            head += struct.pack("<B", DTYPES.index(dtype))
            body = array.tobytes()
            parts["biases"] += len(body)
            per_tensor[name] = len(head) + len(body)
            heads.append(head)
            bodies.append(body)
            continue
        bits = int(index_bits[name])
        if not 1 <= bits <= MAX_INDEX_BITS:
            raise CompressError(f"index bits of {name!r} must be in [1, {MAX_INDEX_BITS}]; got {bits}")
        flat = array.astype(np.float32).reshape(-1)
        rel, source = relative_entries(flat, bits)
        count = len(rel)
        filler = source < 0
        chunks = {}
        if name in codebooks:
            codebook = np.asarray(_to_numpy(codebooks[name]), dtype=np.float32).reshape(-1)
            if not 1 <= len(codebook) <= MAX_CODEBOOK:
                raise CompressError(f"codebook of {name!r} must have 1..{MAX_CODEBOOK} entries; got {len(codebook)}")
            k = len(codebook)
            values = np.full(count, k, dtype=np.int64)  # k: the padding-zero symbol
            values[~filler] = _symbols(flat[source[~filler]], codebook, name)
            chunks["codebooks"] = codebook.tobytes()
            alphabet = k + 1
        else:
            k, alphabet = 0, 0
            values_f = np.zeros(count, dtype=np.float32)
            values_f[~filler] = flat[source[~filler]]
        width = 0
        if count == 0:
            chunks.update(values=b"", indices=b"")
        elif huffman:
            value_table = b""
            if k:
                value_table, chunks["values"] = _huffman(values, alphabet)
            else:
                chunks["values"] = values_f.tobytes()
            index_table, chunks["indices"] = _huffman(rel, 1 << bits)
            chunks["huffman_tables"] = value_table + index_table
        else:
            if k:
                width = _value_width(alphabet if filler.any() else k)
                chunks["values"] = pack(values, width)
            else:
                chunks["values"] = values_f.tobytes()
            chunks["indices"] = pack(rel, bits)
        head += struct.pack("<BB", CODED, array.ndim) + struct.pack(f"<{array.ndim}I", *array.shape)
        head += struct.pack("<BHBIII", bits, k, width, count, len(chunks["values"]), len(chunks["indices"]))
        body = b"".join(chunks.get(p, b"") for p in ("codebooks", "huffman_tables", "values", "indices"))
        for part, chunk in chunks.items():
            parts[part] += len(chunk)
        per_tensor[name] = len(head) + len(body)
        heads.append(head)
        bodies.append(body)
    prefix = MAGIC + struct.pack("<BBH", VERSION, FLAG_HUFFMAN if huffman else 0, len(heads))
    parts["header"] = len(prefix) + sum(len(h) for h in heads)
    data = prefix + b"".join(heads) + b"".join(bodies)
    assert sum(parts.values()) == len(data)
    return Encoded(data, parts, per_tensor)


# ---------------------------------------------------------------- decode
class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = memoryview(data), 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise CompressError("corrupt storage file: it ends before its declared contents")
        chunk = bytes(self.data[self.at:self.at + n])
        self.at += n
        return chunk

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def decode(data: bytes) -> dict[str, torch.Tensor]:
    """The tensors of a storage file written by `encode`, exactly as they were encoded."""
    r = _Reader(data)
    if r.take(len(MAGIC)) != MAGIC:
        raise CompressError("not a Compression Lab storage file (expected it to start with CLDC)")
    version, flags, n = r.unpack("BBH")
    if version != VERSION:
        raise CompressError(f"storage file version {version} is not supported; this lab reads version {VERSION}")
    huffman = bool(flags & FLAG_HUFFMAN)
    heads = []
    for _ in range(n):
        (name_len,) = r.unpack("B")
        name = r.take(name_len).decode()
        kind, ndim = r.unpack("BB")
        shape = r.unpack(f"{ndim}I")
        if kind == RAW:
            (dtype,) = r.unpack("B")
            if dtype >= len(DTYPES):
                raise CompressError(f"corrupt storage file: unknown dtype code {dtype} for {name!r}")
            heads.append((name, kind, shape, {"dtype": DTYPES[dtype]}))
        elif kind == CODED:
            bits, k, width, count, value_len, index_len = r.unpack("BHBIII")
            heads.append((name, kind, shape, {"bits": bits, "k": k, "width": width, "count": count,
                                              "value_len": value_len, "index_len": index_len}))
        else:
            raise CompressError(f"corrupt storage file: unknown tensor kind {kind} for {name!r}")
    out = {}
    for name, kind, shape, h in heads:
        numel = int(np.prod(shape, dtype=np.int64))
        if kind == RAW:
            dtype = np.dtype(h["dtype"])
            out[name] = torch.from_numpy(np.frombuffer(r.take(numel * dtype.itemsize), dtype=dtype)
                                         .reshape(shape).copy())
            continue
        bits, k, count = h["bits"], h["k"], h["count"]
        codebook = np.frombuffer(r.take(4 * k), dtype=np.float32)
        value_table = index_table = b""
        if huffman and count:
            value_table = r.take(k + 2) if k else b""
            index_table = r.take((1 << bits) + 1)
        value_bytes, index_bytes = r.take(h["value_len"]), r.take(h["index_len"])
        if huffman and count:
            rel = _unhuffman(index_table, index_bytes, count, f"the indices of {name!r}")
        else:
            rel = unpack(index_bytes, bits, count)
        if k and huffman and count:
            symbols = _unhuffman(value_table, value_bytes, count, f"the values of {name!r}")
        elif k:
            symbols = unpack(value_bytes, h["width"], count)
        flat = np.zeros(numel, dtype=np.float32)
        positions = np.cumsum(rel + 1) - 1
        if count and positions[-1] >= numel:
            raise CompressError(f"corrupt storage file: an index of {name!r} points past its {numel} weights")
        if k:
            if count and symbols.max() > k:
                raise CompressError(f"corrupt storage file: a value of {name!r} is outside its codebook")
            real = symbols < k
            flat[positions[real]] = codebook[symbols[real]]
        else:
            flat[positions] = np.frombuffer(value_bytes, dtype=np.float32, count=count)
        out[name] = torch.from_numpy(flat.reshape(shape))
    if r.at != len(r.data):
        raise CompressError(f"corrupt storage file: {len(r.data) - r.at} bytes after its declared contents")
    return out
