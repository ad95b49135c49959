"""Graph rewrites that make the exported model smaller: the word-embedding table in fp16 or int8.

The bundled e5's 250,037 x 384 word-embedding table is 384 MB of float32, most of the model's file and memory,
and its values came from 4-bit blocks (kb.model.q4), so a narrower type keeps them (nearly) exactly:

- ``fp16``: the table stored as float16; ``Gather`` then ``Cast`` to float32 (half the bytes);
- ``int8``: int8 values with one float32 scale per row (or per block of a row); ``Gather`` of the int8 rows and
  of their scales, ``Cast``, ``Mul`` (a quarter of the bytes).

Only the lookup changes: the rest of the graph (float32 or int8 matrix multiplications) reads the same float32
embeddings as before. Works on an in-memory ``onnx.ModelProto``; onnx and numpy are imported where used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kb.errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    import onnx

TABLE_KINDS = ("fp16", "int8")
# int8 scales per block of 32 columns: the 4-bit blocks of kb.model.q4, so the values are kept exactly
# (one scale per row lost one of 648 StackFAQ queries at hit@1).
INT8_BLOCK = 32
_CHUNK = 1 << 15  # blocks quantised at a time


def word_table_gather(model: onnx.ModelProto) -> tuple[int, str]:
    """The index of the Gather node that looks token ids up in the word-embedding table, and the table's name.

    The table is the largest 2-D initializer read by a Gather whose indices are a graph input (input_ids).
    """
    from math import prod

    graph = model.graph
    inputs = {i.name for i in graph.input}
    tables = {t.name: t for t in graph.initializer if len(t.dims) == 2}
    found = [(prod(tables[n.input[0]].dims), i, n.input[0]) for i, n in enumerate(graph.node)
             if n.op_type == "Gather" and n.input[0] in tables and n.input[1] in inputs]
    if not found:
        raise ModelError("the ONNX graph has no Gather of token ids in an embedding table to shrink")
    _, index, name = max(found)
    users = [n for n in graph.node if name in n.input]
    if len(users) != 1:
        raise ModelError(f"the embedding table {name} is read by {len(users)} nodes; expected one Gather")
    return index, name


def quantize_rows(table: np.ndarray, block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 of a 2-D float table, one scale per row (block None) or per block of ``block`` columns.

    Returns (int8 values shaped [rows, blocks, block], float32 scales shaped [rows, blocks, 1]). A block's scale
    is ``max|x| / m`` for the first m that gives back every value of the block exactly, trying 8 first (values
    of 4-bit blocks that line up with these, ``k * d`` with k in -8..7, almost all have max|k| = 8), then 1..127;
    else ``max|x| / 127`` with values rounded. An all-zero block gets scale 1 and values 0.
    """
    import numpy as np

    rows, width = table.shape
    block = block or width
    if width % block:
        raise ModelError(f"a table of {width} columns does not split into blocks of {block}")
    blocks = np.asarray(table, dtype=np.float32).reshape(-1, block)
    values = np.empty(blocks.shape, dtype=np.int8)
    scales = np.empty(len(blocks), dtype=np.float32)
    for start in range(0, len(blocks), _CHUNK):  # chunks: a few MB of temporaries instead of the table's size
        end = start + _CHUNK
        values[start:end], scales[start:end] = _quantize_blocks(blocks[start:end])
    shape = (rows, width // block)
    return values.reshape(*shape, block), scales.reshape(*shape, 1)


def _quantize_blocks(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 values and scales of float32 blocks [n, block]: the rule of :func:`quantize_rows`."""
    import numpy as np

    peak = np.abs(blocks).max(axis=1)
    scales = np.where(peak > 0, peak / np.float32(127), np.float32(1)).astype(np.float32)
    values = np.clip(np.rint(blocks / scales[:, None]), -127, 127).astype(np.int8)
    todo = np.flatnonzero(peak > 0)
    for m in (8, *range(1, 8), *range(9, 128)):  # over the blocks not yet exact: one pass for a 4-bit table
        if not len(todo):
            break
        step = (peak[todo] / np.float32(m)).astype(np.float32)
        q = np.rint(blocks[todo] / step[:, None])
        exact = ((q * step[:, None]).astype(np.float32) == blocks[todo]).all(axis=1)
        done = todo[exact]
        scales[done], values[done] = step[exact], q[exact].astype(np.int8)
        todo = todo[~exact]
    return values, scales


def shrink_word_table(model: onnx.ModelProto, kind: str, block: int | None = INT8_BLOCK) -> onnx.ModelProto:
    """Rewrite model (in place, and return it) so that its word-embedding table is stored as ``kind``.

    kind ``fp16``: Gather on a float16 table, Cast to float32. kind ``int8``: :func:`quantize_rows` with
    ``block`` (None: one scale per row); Gather of the values and of the scales, Cast, Mul, and a Reshape
    back to [batch, sequence, hidden]. The node's output name is kept, so the rest of the graph is unchanged.
    """
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    if kind not in TABLE_KINDS:
        raise ModelError(f"table kind must be one of {', '.join(TABLE_KINDS)}, got {kind!r}")
    graph = model.graph
    index, name = word_table_gather(model)
    gather = graph.node[index]
    ids, out = gather.input[1], gather.output[0]
    init = next(t for t in graph.initializer if t.name == name)
    table = numpy_helper.to_array(init)
    graph.initializer.remove(init)
    prefix = f"{gather.name or name}/{kind}"
    if kind == "fp16":
        half = table.astype(np.float16)
        graph.initializer.append(numpy_helper.from_array(half, f"{name}.fp16"))
        nodes = [
            helper.make_node("Gather", [f"{name}.fp16", ids], [f"{prefix}/rows"], name=f"{prefix}/Gather", axis=0),
            helper.make_node("Cast", [f"{prefix}/rows"], [out], name=f"{prefix}/Cast", to=TensorProto.FLOAT),
        ]
    else:
        values, scales = quantize_rows(table, block)
        hidden = table.shape[1]
        graph.initializer.extend([
            numpy_helper.from_array(values, f"{name}.int8"),
            numpy_helper.from_array(scales, f"{name}.scale"),
            numpy_helper.from_array(np.array([0, 0, hidden], dtype=np.int64), f"{name}.shape"),
        ])
        nodes = [
            helper.make_node("Gather", [f"{name}.int8", ids], [f"{prefix}/q"], name=f"{prefix}/Gather", axis=0),
            helper.make_node("Gather", [f"{name}.scale", ids], [f"{prefix}/s"], name=f"{prefix}/GatherScale",
                             axis=0),
            helper.make_node("Cast", [f"{prefix}/q"], [f"{prefix}/qf"], name=f"{prefix}/Cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{prefix}/qf", f"{prefix}/s"], [f"{prefix}/blocks"], name=f"{prefix}/Mul"),
            # [batch, sequence, blocks, block] -> [batch, sequence, hidden]; 0 keeps that dimension of the input
            helper.make_node("Reshape", [f"{prefix}/blocks", f"{name}.shape"], [out], name=f"{prefix}/Reshape"),
        ]
    graph.node.remove(gather)
    for offset, node in enumerate(nodes):
        graph.node.insert(index + offset, node)
    return model
