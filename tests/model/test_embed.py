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
