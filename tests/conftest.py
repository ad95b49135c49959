"""Shared fixtures: a fake embedder and small article folders for unit tests; the real bundled model
and a real index of the sample knowledge base for the end-to-end tests (built once per session)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from kb.settings import Settings
from tests.support.fakes import FakeEmbedder

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SAMPLE_ARTICLES = ROOT / "articles"


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def write_article(tmp_path: Path) -> Callable[..., Path]:
    """Write ``articles/<name>.md`` with the given front matter fields and body."""

    def _write(name: str, body: str = "답변입니다.", folder: Path | None = None, **fields: object) -> Path:
        import yaml

        folder = folder or tmp_path / "articles"
        front = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False).strip() if fields else ""
        return write(folder / f"{name}.md", f"---\n{front}\n---\n{body}\n")

    return _write


@pytest.fixture
def small_kb(tmp_path: Path, write_article: Callable[..., Path]) -> Path:
    """A small article folder: delivery, returns, password (ko), one English article and a draft."""
    write_article("delivery-tracking", "**마이페이지 > 주문/배송 조회**에서 운송장 번호를 확인하세요.",
                  title="배송 조회는 어떻게 하나요?", category="배송", tags=["배송조회", "택배"],
                  questions=["택배 언제 와요?", "운송장 번호 어디서 봐요"])
    write_article("return-request", "반품은 상품 수령 후 7일 이내에 **마이페이지 > 반품 신청**에서 하세요.",
                  title="반품 신청은 어떻게 하나요?", category="취소/반품/교환", questions=["반품하고 싶어요"])
    write_article("password-reset", "로그인 화면의 **비밀번호 찾기**를 누르세요.",
                  title="비밀번호를 잊어버렸어요", category="회원/계정", questions=["비번 까먹었어요"])
    write_article("en-refund", "Refunds reach your card in 3-5 business days.", title="When will I get my refund?",
                  category="환불", locale="en", questions=["refund timing"])
    write_article("membership", "준비 중인 혜택입니다.", title="멤버십 혜택은 뭔가요?", category="회원/계정",
                  status="draft")
    return tmp_path / "articles"


@pytest.fixture
def small_index(tmp_path: Path, small_kb: Path, fake_embedder: FakeEmbedder) -> Path:
    from kb.articles.parse import load_articles
    from kb.index.build import build_index

    build_index(load_articles(small_kb), fake_embedder, tmp_path / "index")
    return tmp_path / "index"


@pytest.fixture
def small_settings(tmp_path: Path, small_kb: Path, small_index: Path) -> Settings:
    return Settings.from_env({}, articles_dir=small_kb, index_dir=small_index, cache_dir=tmp_path / "cache",
                             model="fake-ngram-64")


# --- the real thing ------------------------------------------------------------------------------
# Tests that load the real model, start a PostgreSQL server or a browser, or fuzz a server are marked `slow`
# (by the fixtures they use, or their module, below), so `pytest -m "not slow"` is the quick inner loop.
# Nothing is written outside temporary folders: the session gets its own kb cache, in which the models the user's
# cache already holds (prepared by
# `make install`, see `kb model`) are linked read-only; a missing one is converted into the temporary cache.

REAL_FIXTURES = {"real_settings", "real_embedder", "sample_index", "sample_root",
                 "converted", "real_cache"}
# also slow: what starts a PostgreSQL server, a browser or a fuzzing run (seconds each, no model needed)
SLOW_FIXTURES = {"postgres", "driver", "chrome", "site"}
SLOW_FOLDERS = ("e2e", "browser")  # every test in these folders: live servers, browsers, fuzzing, replicas


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        folder = Path(str(item.path)).relative_to(TESTS).parts[0] if Path(str(item.path)).is_relative_to(TESTS) else ""
        if (REAL_FIXTURES | SLOW_FIXTURES) & fixtures or folder in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)


def _link_prepared_models(cache: Path) -> None:
    from kb.model.bundled import MARKER_FILE
    from kb.model.onnx import EXPORT_MARKER
    from kb.settings import _default_cache_dir

    user_models = Path(os.environ.get("KB_CACHE_DIR") or _default_cache_dir()) / "models"
    if not user_models.is_dir():
        return
    (cache / "models").mkdir(parents=True, exist_ok=True)
    for folder in user_models.iterdir():
        if folder.is_dir() and any((folder / m).is_file() for m in (MARKER_FILE, EXPORT_MARKER)):
            # folders of links to each file, not a link to the folder: what kb derives at a first load (the
            # tokenizer's trie) is then written here, never into the user's cache
            for src in sorted(folder.rglob("*")):
                dst = cache / "models" / folder.name / src.relative_to(folder)
                if src.is_dir():
                    dst.mkdir(parents=True, exist_ok=True)
                else:
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    dst.symlink_to(src)


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the real model in a session cache; the index of the sample knowledge base."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache = tmp_path_factory.mktemp("kb-cache")
    _link_prepared_models(cache)
    index_dir = tmp_path_factory.mktemp("real") / "index"
    return Settings.from_env({}, articles_dir=SAMPLE_ARTICLES, index_dir=index_dir, cache_dir=cache)


@pytest.fixture(scope="session")
def real_embedder(real_settings: Settings):  # type: ignore[no-untyped-def]
    from kb.model.embed import load_embedder

    return load_embedder(real_settings)


@pytest.fixture(scope="session")
def sample_index(real_settings: Settings, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    """The real index of the bundled sample knowledge base, built with the real model (once per session:
    its embedding cache seeds every other index of the sample, see ``sample_root``)."""
    from kb.articles.parse import load_articles
    from kb.index.build import build_index
    from kb.pipeline import config_files

    build_index(load_articles(SAMPLE_ARTICLES), real_embedder, real_settings.index_dir,
                config_files=config_files(SAMPLE_ARTICLES))
    return real_settings.index_dir


@pytest.fixture
def sample_root(tmp_path: Path, sample_index: Path) -> Callable[[str], Path]:
    """A new, empty index root whose embedding cache holds the sample's vectors: building the sample (or an
    edited copy) there embeds only what changed."""

    def make(name: str = "index") -> Path:
        import shutil

        root = tmp_path / name
        root.mkdir()
        shutil.copyfile(sample_index / "embeddings.sqlite", root / "embeddings.sqlite")
        return root

    return make


@pytest.fixture(scope="session")
def postgres():  # type: ignore[no-untyped-def]
    """A real PostgreSQL server for the session (see tests/postgres.py)."""
    from tests.support.postgres import running_postgres

    with running_postgres() as pg:
        yield pg


def real_env(settings: Settings) -> dict[str, str]:
    """Environment for a `kb` subprocess using the session's cache (never the user's)."""
    return {"KB_CACHE_DIR": str(settings.cache_dir), "HF_HUB_OFFLINE": "1"}
