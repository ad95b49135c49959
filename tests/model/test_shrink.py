"""kb.model.shrink: the word-embedding table stored narrower, on a tiny ONNX graph made here; and (slow) the real
export's int8 table against the converted float32 one, and the default precision's embeddings against torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.errors import ModelError
from kb.model.shrink import quantize_rows, shrink_word_table, word_table_gather

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

VOCAB, HIDDEN = 12, 8


def tiny_model(table: np.ndarray) -> onnx.ModelProto:
    """input_ids [batch, seq] -> Gather in table -> Add 1 -> out [batch, seq, hidden]."""
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Gather", ["word.weight", "input_ids"], ["rows"], name="/emb/Gather", axis=0),
         helper.make_node("Add", ["rows", "one"], ["out"], name="/emb/Add")],
        "tiny",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "seq", table.shape[1]])],
        [numpy_helper.from_array(table.astype(np.float32), "word.weight"),
         numpy_helper.from_array(np.ones((1,), np.float32), "one")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, ids: np.ndarray) -> np.ndarray:
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["out"], {"input_ids": ids})[0]


@pytest.fixture
def table() -> np.ndarray:
    # 4-bit-block-like values (small integers times a per-row step), one all-zero row
    rng = np.random.default_rng(0)
    values = rng.integers(-8, 8, size=(VOCAB, HIDDEN)).astype(np.float32) * rng.uniform(0.01, 0.1, (VOCAB, 1))
    values[3] = 0
    return values.astype(np.float32)


IDS = np.array([[0, 3, 5, 11], [7, 7, 1, 2]], dtype=np.int64)


def test_fp16_table_gives_the_same_embeddings_through_a_cast(table: np.ndarray) -> None:
    model = shrink_word_table(tiny_model(table), "fp16")
    inits = {t.name: t for t in model.graph.initializer}
    assert "word.weight" not in inits and inits["word.weight.fp16"].data_type == onnx.TensorProto.FLOAT16
    assert [n.op_type for n in model.graph.node] == ["Gather", "Cast", "Add"]
    np.testing.assert_allclose(run(model, IDS), table[IDS] + 1, atol=1e-3)  # float16: 11 significant bits


@pytest.mark.parametrize("block", [None, 4])
def test_int8_table_gives_the_embeddings_within_half_a_step(table: np.ndarray, block: int | None) -> None:
    model = shrink_word_table(tiny_model(table), "int8", block)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert inits["word.weight.int8"].dtype == np.int8 and "word.weight" not in inits
    assert inits["word.weight.scale"].shape == (VOCAB, HIDDEN // (block or HIDDEN), 1)
    got = run(model, IDS)
    assert got.shape == (2, 4, HIDDEN)
    step = np.abs(table).max(axis=1) / 127
    assert np.all(np.abs(got - (table[IDS] + 1)) <= step[IDS][..., None] / 2 + 1e-6)
    assert np.all(got[0, 1] == 1)  # the all-zero row stays exactly zero


def test_quantize_rows_keeps_4_bit_blocks_exactly_and_rounds_other_values() -> None:
    grid = np.array([[0.5, -1.0, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0], [0.375, -0.75, 0.0, 0.125]], np.float32)
    values, scales = quantize_rows(grid)
    assert values[:, 0].tolist() == [[4, -8, 2, 0], [0, 0, 0, 0], [3, -6, 0, 1]]
    assert scales[:, 0, 0].tolist() == [0.125, 1.0, 0.75 / 6]  # the first exact step: max|x| / 8, then / 6
    np.testing.assert_array_equal(values[..., 0:4].astype(np.float32) * scales, grid[:, None, :])
    odd = np.array([[0.3, -1.0, 0.1234567, 0.0]], np.float32)  # no step up to 1/127 gives these back
    values, scales = quantize_rows(odd)
    assert values.tolist() == [[[38, -127, 16, 0]]] and scales[0, 0, 0] == pytest.approx(1 / 127)
    with pytest.raises(ModelError, match="blocks of 3"):
        quantize_rows(np.zeros((2, 4), np.float32), block=3)


def test_the_table_is_found_and_other_graphs_are_refused(table: np.ndarray) -> None:
    assert word_table_gather(tiny_model(table)) == (0, "word.weight")
    with pytest.raises(ModelError, match="table kind"):
        shrink_word_table(tiny_model(table), "int4")
    model = tiny_model(table)
    model.graph.node[0].input[1] = "rows"  # no longer a lookup of token ids
    with pytest.raises(ModelError, match="no Gather of token ids"):
        word_table_gather(model)


# ----------------------------------------------------------------------------- the real model (slow)

SENTENCES = ["배송은 보통 며칠 걸리나요?", "비밀번호를 잊어버렸어요", "환불은 영업일 기준 3~5일 이내에 처리됩니다.",
             "How do I reset my password?", "My card payment was declined twice", "Can I ship overseas?"]


@pytest.mark.slow
def test_the_exported_int8_table_gives_back_the_float32_table_exactly(real_cache: Path) -> None:
    from safetensors.numpy import load_file

    from kb.model.bundled import bundled_model_dir
    from kb.model.onnx import MODEL_FILES, bundled_onnx_dir

    def external(path: Path, tensor: onnx.TensorProto, dtype: type) -> np.ndarray:
        # read here: onnx.load refuses external data behind a symbolic link (real_cache links the user's files)
        where = {e.key: e.value for e in tensor.external_data}
        data = np.fromfile(path.parent / where["location"], dtype=dtype, offset=int(where.get("offset", 0)),
                           count=int(where["length"]) // np.dtype(dtype).itemsize)
        return data.reshape(tuple(tensor.dims))

    table = load_file(str(bundled_model_dir(real_cache) / "model.safetensors"))["embeddings.word_embeddings.weight"]
    for precision in ("fp32", "int8"):
        path = bundled_onnx_dir(real_cache) / MODEL_FILES[precision]
        model = onnx.load(str(path), load_external_data=False)
        inits = {t.name: t for t in model.graph.initializer}
        name = "bert.embeddings.word_embeddings.weight"  # the exporter's name; kb.model.shrink adds the suffixes
        assert name not in inits
        values = external(path, inits[name + ".int8"], np.int8)
        scales = external(path, inits[name + ".scale"], np.float32)
        assert values.dtype == np.int8 and values.nbytes == table.size
        np.testing.assert_array_equal((values.astype(np.float32) * scales).reshape(table.shape), table)


@pytest.mark.slow
def test_the_default_embeddings_match_sentence_transformers(real_cache: Path) -> None:
    from kb.model.embed import SentenceTransformerEmbedder
    from kb.model.onnx import OnnxEmbedder, bundled_onnx_dir
    from kb.settings import Settings

    onnx_model = OnnxEmbedder(bundled_onnx_dir(real_cache), Settings().precision)
    torch_model = SentenceTransformerEmbedder("multilingual-e5-small", real_cache)
    for embed in ("embed_queries", "embed_passages"):
        cosines = (getattr(onnx_model, embed)(SENTENCES) * getattr(torch_model, embed)(SENTENCES)).sum(axis=1)
        assert cosines.min() >= 0.99999, (embed, cosines)
