"""Long queries with the real model (issue 17): the model reads at most MAX_QUERY_TOKENS of one, a long message
still finds its article, and no long input gives a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb.app.factory import create_app
from kb.limits import MAX_QUERY_CHARS, MAX_QUERY_TOKENS
from kb.pipeline import open_build
from kb.search.searcher import Searcher
from kb.settings import Settings

# Customers' long messages, on one topic throughout (a pasted story about something else is another question).
MESSAGES = {
    "password-reset": "비밀번호를 잊어버려서 로그인을 못 하고 있어요 비밀번호 찾기를 눌러 봤는데 인증 메일이 "
                      "오지 않네요 스팸함도 확인했는데 없어요 예전에 가입할 때 쓰던 이메일 주소를 정확히 기억하지 "
                      "못해서 그런 것 같기도 하고요 휴대폰 번호로도 비밀번호를 다시 설정할 수 있나요 아이디는 알고 "
                      "있는데 비밀번호만 기억이 안 나요 ",
    "cash-receipt": "현금영수증 발급 문의드립니다 무통장 입금으로 결제했는데 주문할 때 현금영수증 신청을 깜빡했어요 "
                    "지금이라도 현금영수증을 발급받을 수 있을까요 회사 경비 처리 때문에 사업자 지출증빙용으로 "
                    "필요합니다 사업자 등록번호는 따로 알려 드릴게요 어디서 신청하면 되는지 알려 주세요 ",
    "delivery-tracking": "택배가 언제 오는지 궁금해요 주문한 지 사흘이 지났는데 아직 배송 조회가 안 돼요 운송장 번호는 "
                         "어디서 확인할 수 있나요 마이페이지에 들어가 봤는데 배송 준비 중이라고만 나오고 택배사 정보가 "
                         "안 보여요 이번 주 안에 받아야 해서 걱정이에요 배송 조회 방법 좀 알려 주세요 ",
}


def maximal(message: str, spaced: bool = True) -> str:
    text = message * 6
    return (text if spaced else text.replace(" ", ""))[:MAX_QUERY_CHARS]


@pytest.fixture(scope="module")
def searcher(sample_index: Path, real_embedder: Any) -> Searcher:
    return open_build(sample_index, real_embedder)


@pytest.mark.parametrize("spaced", [True, False])
@pytest.mark.parametrize("expected", sorted(MESSAGES))
def test_a_maximal_message_still_finds_its_article(searcher: Searcher, expected: str, spaced: bool) -> None:
    query = maximal(MESSAGES[expected], spaced)
    assert len(query) == MAX_QUERY_CHARS
    assert [h.article_id for h in searcher.search(query, k=1).results] == [expected]


def test_the_real_model_reads_at_most_the_query_cap(real_embedder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    widths: list[int] = []
    real_run = real_embedder._session.run

    def run(names: Any, feeds: dict[str, Any]) -> Any:
        widths.append(feeds["input_ids"].shape[1])
        return real_run(names, feeds)

    monkeypatch.setattr(real_embedder._session, "run", run, raising=False)
    if real_embedder._session.run is not run:  # an ONNX Runtime session whose attributes are read-only
        monkeypatch.setattr(real_embedder, "_session", type("Spy", (), {"run": staticmethod(run)})())
    for message in MESSAGES.values():
        real_embedder.embed_queries([maximal(message), maximal(message, spaced=False)])
    assert widths and max(widths) == MAX_QUERY_TOKENS


@pytest.fixture(scope="module")
def client(real_settings: Settings, sample_index: Path, real_embedder: Any) -> Iterator[TestClient]:
    settings = replace(real_settings, index_dir=sample_index, rate_search="100000/second")
    with TestClient(create_app(settings, embedder=real_embedder, watch=False)) as c:
        yield c


@pytest.mark.parametrize("query", [
    maximal(MESSAGES["cash-receipt"]), maximal(MESSAGES["cash-receipt"], spaced=False),
    "가" * MAX_QUERY_CHARS, "ㅋ" * MAX_QUERY_CHARS, "㈜" * MAX_QUERY_CHARS, "ﷺ" * MAX_QUERY_CHARS,
    "<s></s><pad><unk><mask>" * 22, "a\u0301" * 256, "😀" * MAX_QUERY_CHARS, "9" * MAX_QUERY_CHARS,
    "\u200b" * (MAX_QUERY_CHARS - 1) + "a", "refund " * 73, "\u202e" + "반품" * 255, "x" * MAX_QUERY_CHARS,
])
def test_no_long_input_gives_a_server_error(client: TestClient, query: str) -> None:
    r = client.get("/search", params={"q": query})
    assert r.status_code == 200, (r.status_code, r.text[:200])
    assert client.get("/search", params={"q": query + "z" * 10}).status_code == 422  # over the limit: refused
