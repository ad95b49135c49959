"""kb.model.export: (slow) the real export of the bundled multilingual-e5-small, its files checked against the marker
(the export itself is checked against torch before it is kept)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.files import sha256_file
from kb.model.onnx import EXPORT_FILES, EXPORT_MARKER, bundled_onnx_dir
from kb.model.source import BUNDLED_SHA256


@pytest.mark.slow
def test_export_files_match_their_marker(real_cache: Path) -> None:
    folder = bundled_onnx_dir(real_cache)
    marker = json.loads((folder / EXPORT_MARKER).read_text())
    assert marker["source_sha256"] == BUNDLED_SHA256 and marker["dimension"] == 384 and marker["pad_id"] == 1
    assert marker["check"]["fp32_min_cosine"] >= 0.9999 and marker["check"]["int8_min_cosine"] >= 0.98
    for name in EXPORT_FILES:
        assert sha256_file(folder / name) == marker["files"][name]["sha256"], name
    # float32 but for the word-embedding table, int8 blocks (96 MB + 12 MB of scales in place of 384 MB)
    assert 150e6 < (folder / "model.onnx.data").stat().st_size < 250e6
    assert (folder / "model_int8.onnx.data").stat().st_size < 0.9 * (folder / "model.onnx.data").stat().st_size
