"""kb.model.shrink: the word-embedding table stored narrower, on a tiny ONNX graph made here; the MatMuls an export
recipe keeps in float32; and (slow) the shipped precisions against fp32 on the real model."""

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


def test_quantize_rows_maps_each_rows_peak_to_127() -> None:
    values, scales = quantize_rows(np.array([[0.5, -1.0, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0]], np.float32))
    assert values.tolist() == [[[64, -127, 32, 0]], [[0, 0, 0, 0]]]
    assert scales[:, 0, 0].tolist() == pytest.approx([1 / 127, 1.0])
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


def test_the_attention_recipe_keeps_feed_forward_matmuls_in_fp32(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    from kb.model.export import _kept_in_fp32

    names = ["/bert/encoder/layer.0/attention/self/query/MatMul", "/bert/encoder/layer.0/attention/self/MatMul",
             "/bert/encoder/layer.0/intermediate/dense/MatMul", "/bert/encoder/layer.0/output/dense/MatMul"]
    w = numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w" if i != 1 else "x"], [f"y{i}"], name=name)
             for i, name in enumerate(names)]
    value = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "g", [value("x", TensorProto.FLOAT, [2, 2])],
                              [value(f"y{i}", TensorProto.FLOAT, [2, 2]) for i in range(4)], [w])
    path = tmp_path / "g.onnx"
    onnx.save_model(helper.make_model(graph), str(path))
    assert _kept_in_fp32(path, "attention") == names[2:]
    assert _kept_in_fp32(path, "all") == []
    with pytest.raises(ModelError, match="unknown MatMul selection"):
        _kept_in_fp32(path, "ffn")


# ----------------------------------------------------------------------------- the real model (slow)

SENTENCES = ["배송은 보통 며칠 걸리나요?", "비밀번호를 잊어버렸어요", "환불은 영업일 기준 3~5일 이내에 처리됩니다.",
             "How do I reset my password?", "My card payment was declined twice", "Can I ship overseas?"]


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "floor"), [("fp32e8", 0.9999), ("fp32e16", 0.9999)])
def test_small_table_embeddings_match_fp32(real_cache: Path, precision: str, floor: float) -> None:
    from kb.model.onnx import OnnxEmbedder, bundled_onnx_dir

    folder = bundled_onnx_dir(real_cache)
    reference, small = OnnxEmbedder(folder, "fp32"), OnnxEmbedder(folder, precision)
    for embed in ("embed_queries", "embed_passages"):
        cosines = (getattr(reference, embed)(SENTENCES) * getattr(small, embed)(SENTENCES)).sum(axis=1)
        assert cosines.min() >= floor, (embed, cosines)
