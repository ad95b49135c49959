"""kb.model.prompts: the query/passage prompts by model name, and those a local folder declares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.model.prompts import model_prompts


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("multilingual-e5-small", {"query": "query: ", "passage": "passage: "}),
        ("intfloat/multilingual-e5-base", {"query": "query: ", "passage": "passage: "}),
        ("intfloat/e5-large-v2", {"query": "query: ", "passage": "passage: "}),
        ("/srv/cache/models/multilingual-e5-small-1571fc982750/", {"query": "query: ", "passage": "passage: "}),
        ("intfloat/multilingual-e5-large-instruct", {}),
        ("sentence-transformers/all-MiniLM-L6-v2", {}),
        ("BAAI/bge-m3", {}),
        ("gte5-large", {}),
        ("/home/e5/models/bge-m3", {}),  # only the model's own name counts
        ("", {}),
    ],
)
def test_model_prompts_by_name(name: str, expected: dict[str, str]) -> None:
    assert model_prompts(name) == expected


def test_model_prompts_read_a_local_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    assert model_prompts(str(folder)) == {}
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "Q: ", "passage": "D: ", "classification": "C: "}}))
    assert model_prompts(str(folder)) == {"query": "Q: ", "passage": "D: "}
