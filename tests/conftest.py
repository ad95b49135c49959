"""Shared fixtures: a fake embedder and small article folders for unit tests; the real bundled model
and a real index of the sample knowledge base for the end-to-end tests (built once per session)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from kb.settings import Settings
from tests.fakes import FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent
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
    from kb.articles import load_articles
    from kb.index import build_index

    build_index(load_articles(small_kb), fake_embedder, tmp_path / "index")
    return tmp_path / "index"


@pytest.fixture
def small_settings(tmp_path: Path, small_kb: Path, small_index: Path) -> Settings:
    return Settings.from_env({}, articles_dir=small_kb, index_dir=small_index, cache_dir=tmp_path / "cache",
                             model="fake-ngram-64")


# --- the real thing ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def real_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the real model; the converted model is cached in the user's cache (once per machine)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    index_dir = tmp_path_factory.mktemp("real") / "index"
    return Settings.from_env(articles_dir=SAMPLE_ARTICLES, index_dir=index_dir)


@pytest.fixture(scope="session")
def real_embedder(real_settings: Settings):  # type: ignore[no-untyped-def]
    from kb.embed import load_embedder

    return load_embedder(real_settings)


@pytest.fixture(scope="session")
def sample_index(real_settings: Settings, real_embedder) -> Path:  # type: ignore[no-untyped-def]
    """The real index of the bundled sample knowledge base, built with the real model."""
    from kb.articles import load_articles
    from kb.index import build_index

    synonyms = [p for p in (SAMPLE_ARTICLES / "_synonyms.yml",) if p.is_file()]
    build_index(load_articles(SAMPLE_ARTICLES), real_embedder, real_settings.index_dir, config_files=synonyms)
    return real_settings.index_dir
