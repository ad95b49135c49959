"""kb.model.embed: load_embedder picks ONNX Runtime for the bundled model and sentence-transformers for any other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kb.model.embed
from kb.errors import ModelError
from kb.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_load_embedder_picks_onnx_for_the_bundled_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(kb.model.embed, "bundled_onnx_path", lambda cache: calls.append(cache) or tmp_path)
    monkeypatch.setattr(kb.model.embed, "OnnxEmbedder", lambda *args: ("onnx", *args))
    monkeypatch.setattr(kb.model.embed, "SentenceTransformerEmbedder", lambda *args: ("st", *args))
    settings = Settings.from_env({}, cache_dir=tmp_path / "cache", precision="int8")
    assert kb.model.embed.load_embedder(settings) == ("onnx", tmp_path, "int8", 32)
    assert calls == [tmp_path / "cache"]
    other = Settings.from_env({}, cache_dir=tmp_path / "cache", model="intfloat/multilingual-e5-base", precision="int8")
    assert kb.model.embed.load_embedder(other) == ("st", "intfloat/multilingual-e5-base", tmp_path / "cache", 32)


def test_load_embedder_without_onnxruntime_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    real = kb.model.embed.importlib.util.find_spec
    monkeypatch.setattr(kb.model.embed.importlib.util, "find_spec",
                        lambda name: None if name == "onnxruntime" else real(name))
    with pytest.raises(ModelError) as err:
        kb.model.embed.load_embedder(Settings.from_env({}, cache_dir=tmp_path))
    assert str(err.value) == ("the bundled model runs on ONNX Runtime, which is not installed: "
                              "pip install 'onnxruntime>=1.20,<2'")
    assert not (tmp_path / "models").exists()


def test_importing_kb_embed_is_cheap() -> None:
    code = "import sys, kb.model.embed; heavy = {'numpy', 'torch', 'onnxruntime', 'tokenizers'} & set(sys.modules); " \
           "assert not heavy, heavy"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ----------------------------------------------------------------------------- what the model reads of a query


def test_a_maximal_query_reaches_the_model_cut_to_the_query_cap(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import numpy as np

    from kb.limits import MAX_QUERY_CHARS, MAX_QUERY_TOKENS
    from kb.model.onnx import OnnxEmbedder
    from tests.model.test_onnx import tiny_vector, write_tiny_export

    emb = OnnxEmbedder(write_tiny_export(tmp_path / "export"), threads=1, concurrency=1)
    widths: list[int] = []
    real_run = emb._session.run

    class Spy:  # what the model is given: (batch, tokens)
        def run(self, names: Any, feeds: dict[str, Any]) -> Any:
            widths.append(feeds["input_ids"].shape[1])
            return real_run(names, feeds)

    emb._session = Spy()  # type: ignore[assignment]
    maximal = ("택배 언제 와요 " * 100)[:MAX_QUERY_CHARS]  # 256 words: 259 tokens with "query:", <s> and </s>
    vector = emb.embed_queries([maximal])[0]
    assert widths == [MAX_QUERY_TOKENS]
    words = ["query:", *maximal.split()][: MAX_QUERY_TOKENS - 2]  # the first tokens, as the model read them
    np.testing.assert_allclose(vector, tiny_vector(words), atol=1e-6)
    emb.embed_queries(["택배 언제 와요", maximal])  # a batch is as wide as its widest query, capped
    assert widths[-1] == MAX_QUERY_TOKENS
    emb.embed_passages([maximal])  # an article is read to the model's own 512
    assert widths[-1] == len(maximal.split()) + 3
    assert OnnxEmbedder(tmp_path / "export", query_tokens=5).embed_queries([maximal]).shape == (1, 8)


def test_sentence_transformers_queries_are_cut_at_the_query_cap() -> None:
    from kb.limits import MAX_QUERY_TOKENS

    class Tokenizer:  # a fast tokenizer's answer: one token per word, offsets into the text
        def __call__(self, texts: list[str], *, truncation: bool, max_length: int,
                     return_offsets_mapping: bool) -> dict[str, Any]:
            import re

            spans = [[(0, 0), *[m.span() for m in re.finditer(r"\S+", t)][: max_length - 2], (0, 0)] for t in texts]
            return {"offset_mapping": spans}

    st = kb.model.embed.SentenceTransformerEmbedder.__new__(kb.model.embed.SentenceTransformerEmbedder)
    st._model = type("Model", (), {"tokenizer": Tokenizer()})()
    words = [f"w{i}" for i in range(300)]
    cut = st._cut([" ".join(words), "짧은 질문"], "query: ", MAX_QUERY_TOKENS)
    assert cut == [" ".join(words[: MAX_QUERY_TOKENS - 3]), "짧은 질문"]  # <s>, "query:" and </s> count
    st._model = type("Model", (), {"tokenizer": lambda *a, **k: {}})()  # no offsets (a slow tokenizer): whole
    assert st._cut([" ".join(words)], "query: ", MAX_QUERY_TOKENS) == [" ".join(words)]
