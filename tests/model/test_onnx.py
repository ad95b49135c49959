"""kb.model.onnx: batching, the export marker check, the embedder on a tiny hand-made ONNX model, and (slow) the real
export of the bundled multilingual-e5-small checked against sentence-transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kb.errors import ModelError
from kb.files import sha256_file
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
from kb.model.source import BUNDLED_SHA256
from tests.model.tokenizer_ref import ROOT, SAMPLE_QUESTIONS, write_tokenizer_json

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


def test_importing_kb_embed_and_kb_onnx_model_is_cheap() -> None:
    code = ("import sys, kb.model.embed, kb.model.onnx; "
            "heavy = {'numpy', 'torch', 'onnxruntime', 'tokenizers', 'onnx', 'marisa_trie'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ----------------------------------------------------------------------------- the real model (slow)


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


@pytest.mark.slow
def test_long_text_is_truncated_to_512_tokens(real_cache: Path) -> None:
    emb = OnnxEmbedder(bundled_onnx_dir(real_cache), "int8")
    long = "환불은 영업일 기준 3~5일 이내에 처리됩니다. " * 200  # thousands of tokens
    vectors = emb.embed_passages([long, long + "추가 문장"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)  # the tail past 512 tokens is cut


@pytest.mark.slow
def test_embedding_in_a_fresh_process_imports_no_torch_nor_tokenizers(real_cache: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from kb.model.embed import load_embedder; "
        "from kb.settings import Settings; "
        f"e = load_embedder(Settings.from_env({{}}, cache_dir=Path({str(real_cache)!r}))); "
        "v = e.embed_queries(['택배 언제 와요']); p = e.embed_passages(['배송 조회는 어떻게 하나요?'] * 40); "
        "assert type(e).__name__ == 'OnnxEmbedder' and v.shape == (1, 384) and p.shape == (40, 384); "
        "heavy = {'torch', 'transformers', 'sentence_transformers', 'tokenizers'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
