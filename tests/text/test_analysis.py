from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import kb.text.analysis
from kb.errors import ConfigError
from kb.limits import MAX_ANALYSED_QUERY_CHARS, MAX_QUERY_CHARS
from kb.text.analysis import Analyzer, Synonyms, char_ngrams, clip, stem_en


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def test_korean_keeps_content_morphemes(analyzer: Analyzer) -> None:
    assert analyzer.terms("택배 언제 와요?") == ["택배", "언제", "오다"]
    # particles and endings go, the negation adverb stays
    assert analyzer.terms("카카오페이로 결제가 안돼요") == ["카카오페이", "결제", "안", "되다"]
    assert analyzer.terms("반품하고 싶어요") == ["반품"]


def test_same_terms_whatever_the_ending(analyzer: Analyzer) -> None:
    assert analyzer.terms("비밀번호를 잊어버렸어요") == analyzer.terms("비밀번호 잊어버렸습니다")


def test_english_lowercase_punctuation_stopwords_stemming(analyzer: Analyzer) -> None:
    assert analyzer.terms("I can't log-in to my Account!") == ["not", "log", "account"]
    assert analyzer.terms("Cards declined") == analyzer.terms("card declining")
    assert stem_en("charges") == stem_en("charged") == stem_en("charging") == stem_en("charge")
    assert stem_en("applies") == stem_en("applied") == stem_en("apply")
    assert stem_en("status") == "status" and stem_en("gas") == "gas"


def test_noise_gives_no_korean_terms(analyzer: Analyzer) -> None:
    assert analyzer.terms("ㅋㅋㅋㅋ") == []
    assert analyzer.terms("   ") == []


def test_full_width_text_is_folded(analyzer: Analyzer) -> None:
    assert analyzer.terms("ｉＰｈｏｎｅ") == analyzer.terms("iphone")


def test_terms_many_matches_terms(analyzer: Analyzer) -> None:
    texts = ["택배 언제 와요", "refund not received", "비번 까먹었어요", ""]
    assert analyzer.terms_many(texts) == [analyzer.terms(t) for t in texts]


def test_queries_typed_without_spaces_are_respaced(analyzer: Analyzer) -> None:
    assert analyzer.respaced("택배언제와요") == "택배 언제 와요"
    assert analyzer.respaced("주문취소하고 싶어요") == "주문 취소하고 싶어요"  # one long run is enough
    assert analyzer.respaced("택배 언제 와요") is None  # spaced: left as typed
    assert analyzer.respaced("회원탈퇴") is None  # a short run is an ordinary compound
    assert analyzer.respaced("how do I return an item") is None


def test_synonyms_fold_to_the_canonical_word() -> None:
    syn = Synonyms(groups=(("비밀번호", "비번", "패스워드", "password"), ("배송조회", "택배조회", "tracking")),
                   keep_whole=("한결페이",))
    a = Analyzer(syn)
    assert a.terms("비번 까먹었어요") == a.terms("비밀번호 까먹었어요") == ["비밀", "번호", "까먹다"]
    assert a.terms("forgot my password") == ["forgot", "비밀", "번호"]
    assert a.terms("택배조회") == a.terms("배송조회")
    assert a.terms("한결페이 결제") == ["한결페이", "결제"]  # kept whole by the user dictionary


def test_synonyms_file(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.yml"
    path.write_text("synonyms:\n  - [반품, 반송, return]\n  - [solo]\nkeep_whole: [무신사]\n", encoding="utf-8")
    syn = Synonyms.load(path)
    assert syn.groups == (("반품", "반송", "return"),)  # a one-word group means nothing and is dropped
    assert syn.keep_whole == ("무신사",)
    assert Synonyms.for_index(tmp_path) == Synonyms()  # no config/synonyms.yml in a build


@pytest.mark.parametrize(("text", "needle"), [
    ("synonyms: [[a, b]]\nextra: 1\n", "unknown key"),
    ("synonyms: [a, b]\n", "synonym group 1"),
    ("synonyms: [[a, b]\n", "bad YAML"),
    ("- a\n", "expected a mapping"),
])
def test_bad_synonyms_file_is_refused(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "synonyms.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        Synonyms.load(path)


def test_char_ngrams_mark_word_boundaries() -> None:
    assert char_ngrams("택배", (2,)) == ["#택", "택배", "배#"]
    assert "#re" in char_ngrams("Refund")


def test_import_is_cheap() -> None:
    code = "import sys, kb.text.analysis, kb.index.store, kb.index.build, kb.index.lexical, kb.pipeline, " \
           "kb.search.fusion, kb.search.searcher, kb.search.suggest, kb.evaluate, kb.articles.benchmarks, " \
           "kb.feedback.store; " \
           "print(sorted(m for m in ('kiwipiepy', 'bm25s', 'torch', 'faiss', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"


# --- what a long query's analysis reads (issue 17: a query's cost is bounded) --------------------


def test_clip_keeps_whole_words_within_the_limit() -> None:
    assert clip("택배 언제 와요", 100) == "택배 언제 와요"
    assert clip("택배 언제 와요", 6) == "택배 언제"  # the cut fell inside 와요: the half word is left out
    assert clip("택배 언제 와요", 5) == "택배 언제"  # the cut fell on a space
    assert clip("택배언제와요택배언제와요", 5) == "택배언제와"  # no space to go back to
    assert clip("a " + "b" * 20, 10) == "a bbbbbbbb"  # a space too far back: cut inside the word


class KiwiSpy:
    """Stands in for Kiwi: records the length of every text it is given."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def tokenize(self, text: str) -> list[object]:
        self.seen.append(len(text))
        return []

    def space(self, text: str) -> str:
        self.seen.append(len(text))
        return text


@pytest.mark.parametrize("query", [
    ("택배 언제 와요 " * 100)[:MAX_QUERY_CHARS],  # spaced
    ("택배언제와요" * 86)[:MAX_QUERY_CHARS],  # typed without spaces: also re-spaced
    "㈜" * MAX_QUERY_CHARS,  # NFKC makes each one 3 characters, (주): the cap holds after normalising
])
def test_kiwi_reads_at_most_the_query_cap(monkeypatch: pytest.MonkeyPatch, query: str) -> None:
    spy = KiwiSpy()
    monkeypatch.setattr(kb.text.analysis, "_kiwi", lambda keep_whole: spy)
    analyzer = Analyzer()
    analyzer.terms(query, limit=MAX_ANALYSED_QUERY_CHARS)
    analyzer.respaced(query)
    assert spy.seen and max(spy.seen) <= MAX_ANALYSED_QUERY_CHARS
    analyzer.terms(query)  # an article (a build) is analysed whole
    assert spy.seen[-1] >= MAX_QUERY_CHARS


def test_char_ngrams_of_a_long_query_stop_at_the_cap(analyzer: Analyzer) -> None:
    query = " ".join(f"단어{i}" for i in range(150))  # 889 characters, every word its own
    grams = char_ngrams(query, limit=MAX_ANALYSED_QUERY_CHARS)
    assert grams == char_ngrams(clip(query, MAX_ANALYSED_QUERY_CHARS)) and "어0#" in grams and "어149" not in grams
    assert len(grams) < len(char_ngrams(query)) / 3
    terms = analyzer.terms(query, limit=MAX_ANALYSED_QUERY_CHARS)
    assert terms == analyzer.terms(clip(query, MAX_ANALYSED_QUERY_CHARS)) and "149" not in terms
