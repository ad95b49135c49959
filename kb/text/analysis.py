"""Text analysis for lexical matching: Korean morphemes (Kiwi), English words, synonyms.

The same :class:`Analyzer` turns entries (at index time) and queries (at search time) into terms, so a
query matches an entry when they share content morphemes, whatever the particles and endings:
``택배 언제 와요`` -> ``택배 언제 오다``. Measured on paraKQC (dev), BM25 over whitespace words reaches
hit@1 0.59, over these morphemes 0.85: Korean needs the analyser.

Kiwi is imported and loaded (about a second) the first time a Korean text is analysed; ``import kb.text.analysis``
stays cheap. Text without Hangul takes a plain regex path, which is faster and handles English
punctuation and contractions better than the morpheme analyser.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kb.errors import ConfigError
from kb.limits import MAX_ANALYSED_QUERY_CHARS

# Kiwi tags kept as terms: nouns, numerals, pronouns, verb / adjective stems (also the irregular -I / -R
# variants), roots, adverbs (안, 못, 다 change the meaning), determiners, foreign words, Hanja and numbers.
# Particles, endings and suffixes are dropped, and so are auxiliary predicates (VX: 싶다, 주다, 있다 in
# "반품하고 싶어요", "알려 주세요"): dropping them gained 0.01 hit@1 on paraKQC dev.
KEEP_TAGS = frozenset({
    "NNG", "NNP", "NNB", "NR", "NP", "VV", "VA", "XR", "MAG", "MM", "SL", "SH", "SN",
})
# bound nouns that carry no meaning on their own ("것", "수", "거")
KOREAN_STOP = frozenset({"것", "수", "거", "등", "때문", "데", "중", "바", "뿐", "듯", "따위", "들"})
PREDICATE_TAGS = frozenset({"VV", "VA"})

# a small English stop list (bm25s's STOPWORDS_EN plus pronouns and auxiliaries): they match everything
ENGLISH_STOP = frozenset("""
a an and are as at be but by for if in into is it no of on or such that the their then there these they
this to was will with i me my we our you your he she his her its them am been being do does did doing
have has had having can could would should shall may might must s t d ll re ve m o so than too very just
""".split())

_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
# A run of this many Hangul syllables with no space is most likely missing spaces ("택배언제와요"); Korean
# words with their particles rarely reach it (see Analyzer.respaced).
UNSPACED_RUN = 6
_LONG_RUN = re.compile(rf"[\uac00-\ud7a3]{{{UNSPACED_RUN},}}")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CONTRACTION = re.compile(r"(?i)(?:\b(ca)|\b(wo)|(\w))n['’]t\b")
_COMPAT_JAMO = re.compile(r"([^\u3130-\u318f]+)")
_APOSTROPHE = re.compile(r"['’](s|re|ll|ve|m|d)\b", re.IGNORECASE)
_VOWEL = re.compile(r"[aeiouy]")


def stem_en(word: str) -> str:
    """A light English stemmer: plurals, -ing, -ed, final -e and -y folded (``charges`` -> ``charg``).

    Terms only need to be the same on both sides, not to be words: ``charge``, ``charged``, ``charging``
    and ``charges`` all become ``charg``. Conservative on short words, where folds go wrong most.
    """
    w = word
    if len(w) <= 3 or not w.isascii() or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith(("ss", "us", "is", "ous")):
        pass
    elif w.endswith(("xes", "zes", "ches", "shes")):
        w = w[:-2]
    elif w.endswith("s"):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        base = w[: -len(suffix)]
        if w.endswith(suffix) and len(base) >= 3 and _VOWEL.search(base):
            if base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]  # stopped -> stop, transferred -> transfer
            w = base
            break
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]  # charge / charged / charging -> charg
    if len(w) > 3 and w.endswith("y") and w[-2] not in "aeiou":
        w = w[:-1] + "i"  # apply / applied / applies -> appli
    return w


@dataclass(frozen=True)
class Synonyms:
    """Synonym groups (the first word of each group is the canonical one) and words Kiwi must not split."""

    groups: tuple[tuple[str, ...], ...] = ()
    keep_whole: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path) -> Synonyms:
        """Read a ``synonyms.yml`` (``synonyms: [[canonical, variant, ...], ...]``, ``keep_whole: [...]``)."""
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read synonyms file {path}: {e}") from None
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise ConfigError(f"{where}: bad YAML in synonyms file ({getattr(e, 'problem', e)})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "synonyms") -> Synonyms:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping with `synonyms` and `keep_whole` lists")
        unknown = set(data) - {"synonyms", "keep_whole"}
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                              "known: synonyms, keep_whole")
        groups: list[tuple[str, ...]] = []
        for n, group in enumerate(data.get("synonyms") or [], 1):
            if not isinstance(group, list) or not all(isinstance(w, (str, int)) for w in group):
                raise ConfigError(f"{source}: synonym group {n} must be a list of words, found {group!r}")
            words = tuple(dict.fromkeys(" ".join(str(w).split()) for w in group if str(w).strip()))
            if len(words) >= 2:
                groups.append(words)
        keep = data.get("keep_whole") or []
        if not isinstance(keep, list) or not all(isinstance(w, (str, int)) for w in keep):
            raise ConfigError(f"{source}: `keep_whole` must be a list of words")
        return cls(tuple(groups), tuple(dict.fromkeys(str(w).strip() for w in keep if str(w).strip())))

    @classmethod
    def for_index(cls, index_path: Path) -> Synonyms:
        """The synonyms copied into a build (``config/synonyms.yml``), or none."""
        path = index_path / "config" / "synonyms.yml"
        return cls.load(path) if path.is_file() else cls()


@lru_cache(maxsize=4)
def _kiwi(keep_whole: tuple[str, ...]) -> Any:
    try:
        from kiwipiepy import Kiwi
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError("Korean analysis needs kiwipiepy: pip install kiwipiepy") from None
    # Without the multi-word dictionary (Wikipedia-style proper nouns of several words): Kiwi's memory 500 ->
    # 321 MiB and its load 5.5 -> 2.6 s (kiwipiepy 0.24), while the analyses kb searches with come out the
    # same: paraKQC dev hit@1 .9296 (lexical only .858), sample .9502, unspaced .9620, unchanged to the 4th
    # decimal. A shop's own multi-word names go in `keep_whole` (synonyms.yml).
    # num_workers=-1: a thread per core for batches (a build's articles: 315 texts 5.8 -> 3.1 s on 2 cores);
    # a single query's analysis stays ~0.3-0.4 ms.
    # load_typo_dict=False: Kiwi's table of common misspellings (its own typo correction stays off too: typos=None)
    # loads in 1.1 s instead of 1.8 s, most of a server's start-up; kb's n-grams carry the typos it matches.
    kiwi = Kiwi(num_workers=-1, load_multi_dict=False, load_typo_dict=False)
    for word in keep_whole:
        # a brand or product name stays one term ("무신사스토어", not 무신 + 사 + 스토어)
        kiwi.add_user_word(word.replace(" ", ""), "NNP", 10.0)
    return kiwi


class Analyzer:
    """Text -> list of terms, the same way for entries and queries.

    Korean morphemes keep their content (nouns, stems, adverbs); verb and adjective stems get ``다``
    (``와요`` -> ``오다``), so they read as words in "why it matched". English is lowercased, split on
    punctuation, stop words dropped and lightly stemmed. Synonyms are folded to their group's canonical
    word, on both sides.
    """

    def __init__(self, synonyms: Synonyms | None = None, *, stem: bool = True, stopwords: bool = True) -> None:
        self.synonyms = synonyms or Synonyms()
        self.stem = stem
        self.stopwords = stopwords
        self._lock = threading.Lock()  # Kiwi objects are not documented as thread-safe
        self._rules: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        self._rules_ready = not self.synonyms.groups

    # -- public -------------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """What a text's terms depend on besides the text: this module's code, Kiwi and its model, the
        synonyms and the options. Cached terms (the build's) are keyed by it, so any change re-analyses."""
        import hashlib
        import json
        from importlib.metadata import PackageNotFoundError, version

        def installed(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return ""

        h = hashlib.sha256(Path(__file__).read_bytes())
        h.update(json.dumps([installed("kiwipiepy"), installed("kiwipiepy_model"), self.synonyms.groups,
                             self.synonyms.keep_whole, self.stem, self.stopwords], ensure_ascii=False).encode())
        return h.hexdigest()

    def terms(self, text: str, limit: int | None = None) -> list[str]:
        """The terms of one text, in order (repeats kept: BM25 counts them); with ``limit``, of its first
        ``limit`` characters after normalisation (:func:`clip`: what a query's analysis costs is bounded)."""
        return self._fold(self._raw_terms(text, limit))

    def terms_many(self, texts: Sequence[str]) -> list[list[str]]:
        """Terms of many texts; Korean ones go through Kiwi in one batch."""
        out: list[list[str] | None] = [None] * len(texts)
        korean: list[int] = []
        for i, t in enumerate(texts):
            norm = _normalise(t)
            if _HANGUL.search(norm):
                korean.append(i)
            else:
                out[i] = self._english(norm)
        if korean:
            with self._lock:
                kiwi = _kiwi(self.synonyms.keep_whole)
                batch = kiwi.tokenize([_normalise(texts[i]) for i in korean])  # in order, on Kiwi's threads
                for i, tokens in zip(korean, batch, strict=True):
                    out[i] = self._from_tokens(tokens)
        return [self._fold(t or []) for t in out]

    def respaced(self, text: str) -> str | None:
        """Kiwi's spacing of a query that looks typed without spaces, or None when it does not.

        The lexical side needs no help (Kiwi splits ``택배언제와요`` into morphemes anyway), but e5 reads an
        unspaced run as rarer sub-words and drifts: the search embeds this text beside the typed one. On the
        Korean sample queries typed with all spaces removed, hit@1 0.930 -> 0.962; on paraKQC dev
        (normally spaced; 533 of 4,488 queries have such a run) hit@1 stays 0.930 (two fewer right).
        Only the first MAX_ANALYSED_QUERY_CHARS characters are spaced (the model reads no more of a query).
        """
        if not _LONG_RUN.search(text):
            return None
        norm = " ".join(clip(_normalise(text), MAX_ANALYSED_QUERY_CHARS).split())
        with self._lock:
            spaced = " ".join(str(_kiwi(self.synonyms.keep_whole).space(norm)).split())
        return spaced if spaced != norm else None

    # -- internals ----------------------------------------------------------------------------------

    def _raw_terms(self, text: str, limit: int | None = None) -> list[str]:
        norm = _normalise(text) if limit is None else clip(_normalise(text), limit)
        if not _HANGUL.search(norm):
            return self._english(norm)
        with self._lock:
            tokens = _kiwi(self.synonyms.keep_whole).tokenize(norm)
        return self._from_tokens(tokens)

    def _english_word(self, word: str) -> str | None:
        w = word.lower()
        if self.stopwords and w in ENGLISH_STOP:
            return None
        return stem_en(w) if self.stem else w

    def _english(self, text: str) -> list[str]:
        text = _APOSTROPHE.sub("", _CONTRACTION.sub(_negation, text))
        out = []
        for m in _WORD.finditer(text):
            term = self._english_word(m.group())
            if term:
                out.append(term)
        return out

    def _from_tokens(self, tokens: Iterable[Any]) -> list[str]:
        out: list[str] = []
        for tok in tokens:
            tag = str(tok.tag).split("-")[0]  # VA-I, VV-R: irregular forms of the same stems
            if tag not in KEEP_TAGS:
                continue
            form = tok.form
            if tag == "SL":
                for m in _WORD.finditer(form):
                    term = self._english_word(m.group())
                    if term:
                        out.append(term)
                continue
            if tag in ("NNB", "NP", "NNG") and form in KOREAN_STOP:
                continue
            if tag in PREDICATE_TAGS:
                form += "다"
            out.append(form.lower())
        return out

    def _build_rules(self) -> None:
        """Analyse every synonym once: variant term sequence -> canonical term sequence."""
        rules: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        for group in self.synonyms.groups:
            canonical = tuple(self._raw_terms(group[0]))
            if not canonical:
                continue
            for variant in group[1:]:
                seq = tuple(self._raw_terms(variant))
                if seq and seq != canonical:
                    rules.setdefault(seq[0], []).append((seq, canonical))
        for first in rules:
            rules[first].sort(key=lambda r: -len(r[0]))  # longest variant first
        self._rules = rules
        self._rules_ready = True

    def _fold(self, terms: list[str]) -> list[str]:
        if not self.synonyms.groups:
            return terms
        if not self._rules_ready:
            self._build_rules()
        out: list[str] = []
        i = 0
        while i < len(terms):
            for seq, canonical in self._rules.get(terms[i], ()):
                if tuple(terms[i : i + len(seq)]) == seq:
                    out.extend(canonical)
                    i += len(seq)
                    break
            else:
                out.append(terms[i])
                i += 1
        return out


_LATIN = re.compile(r"[A-Za-z]")


def query_locale(text: str) -> str | None:
    """The locale a query is written in, as far as its script tells: ``ko`` with any Hangul, ``en`` with
    Latin letters and no Hangul, else None (digits, symbols: could be anything)."""
    if _HANGUL.search(text):
        return "ko"
    return "en" if _LATIN.search(text) else None


def _negation(m: re.Match[str]) -> str:
    # can't -> can not, won't -> will not, doesn't -> does not
    return ("can" if m.group(1) else "will" if m.group(2) else m.group(3)) + " not"


def _normalise(text: str) -> str:
    """NFKC (full-width ｉＰｈｏｎｅ -> iPhone, ① -> 1), except on compatibility jamo, which Kiwi reads as
    typed (``ㅋㅋ``) while NFKC would turn them into conjoining jamo."""
    if text.isascii():
        return text
    return _COMPAT_JAMO.sub(lambda m: unicodedata.normalize("NFKC", m.group(1)), text)


def clip(text: str, limit: int) -> str:
    """The first ``limit`` characters of text, without the word the cut falls in when an earlier space allows
    (a half word is a term no article has). What a long query's analysis reads: see kb.limits."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if not text[limit].isspace():
        space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
        if space > limit // 2:
            cut = cut[:space]
    return cut


def char_ngrams(text: str, sizes: tuple[int, ...] = (2, 3), limit: int | None = None) -> list[str]:
    """Character n-grams of each word, with word boundaries marked (``#택배#`` -> ``#택``, ``택배``, ``배#``...);
    with ``limit``, of the first ``limit`` characters after normalisation (:func:`clip`).

    They match across spacing differences, typos and analyser slips that whole terms miss; as a third
    signal they gained about 0.01 hit@1 on StackFAQ and BANKING77 dev.
    """
    norm = _normalise(text) if limit is None else clip(_normalise(text), limit)
    out: list[str] = []
    for m in _WORD.finditer(norm.lower()):
        w = f"#{m.group()}#"
        for n in sizes:
            out.extend(w[i : i + n] for i in range(len(w) - n + 1))
    return out
