"""Type-ahead suggestions: questions, titles, tags and categories matched on jamo, 초성 and typos.

Everything is precomputed when the :class:`Suggester` is built (once per loaded index), so a call
costs a few dictionary look-ups and a binary search:

* jamo prefix of the whole text, then of any word in it (spaces ignored: ``반품신청`` finds
  ``반품 신청은 어떻게 하나요?``), which also covers half-typed syllables (``반ㅍ``, ``반푸``, ``바``);
* 초성 when the query is only consonants (``ㅂㅍ`` -> ``반품``, ``ㅂㅍㅅㅊ`` -> ``반품 신청...``);
* infix, at a letter boundary, for queries of two syllables or more;
* typos: one jamo edit against the start of a word (``환뷸`` -> ``환불``, ``refnud`` -> ``refund``).

Results rank by tier in that order, then shorter and more popular first, at most two per article.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from kb.index.suggestions import KINDS, Suggestion
from kb.text.hangul import choseong, decompose, decompose_marked, is_choseong_query, normalize, within_one_edit

if TYPE_CHECKING:
    from kb.index.store import LoadedIndex

MAX_LIMIT = 50  # suggest_scored clamps to this; the API allows up to kb.limits.MAX_SUGGEST_LIMIT

# tiers, best first
PREFIX, WORD, CHO_PREFIX, CHO_WORD, INFIX, FUZZY = range(6)
TIER_NAMES = ("prefix", "word", "choseong", "choseong", "infix", "fuzzy")

_WORD_RE = re.compile(r"[^\W_]+")
_SHORT = 3  # prefixes up to this many jamo have their best candidates precomputed
_TOP = 64  # candidates kept per precomputed prefix (more than any limit, to survive per-article caps)
_SCAN_CAP = 4000  # most keys looked at for one query, so a pathological query stays fast
_FUZZY_MIN, _FUZZY_MAX = 4, 24  # typo tolerance for one-word queries of this many jamo


class _PrefixTable:
    """Sorted (key, candidate, tier) rows; ``find`` returns the rows whose key starts with a query."""

    def __init__(self, rows: list[tuple[str, int, int]], rank: list[float]) -> None:
        rows.sort()
        self.keys = [r[0] for r in rows]
        self.ids = [r[1] for r in rows]
        self.tiers = [r[2] for r in rows]
        grouped: dict[str, dict[int, int]] = {}
        for key, cid, tier in rows:
            for n in range(1, min(_SHORT, len(key)) + 1):
                best = grouped.setdefault(key[:n], {})
                if tier < best.get(cid, 99):
                    best[cid] = tier
        self.top: dict[str, list[tuple[int, int]]] = {
            p: sorted(((t, c) for c, t in best.items()), key=lambda tc: (tc[0], rank[tc[1]]))[:_TOP]
            for p, best in grouped.items()
        }

    def find(self, query: str) -> list[tuple[int, int]]:
        """(tier, candidate) pairs whose key starts with ``query``."""
        if len(query) <= _SHORT:
            return self.top.get(query, [])
        lo = bisect_left(self.keys, query)
        hi = min(bisect_right(self.keys, query + "\U0010ffff"), lo + _SCAN_CAP)
        return [(self.tiers[i], self.ids[i]) for i in range(lo, hi)]


class Suggester:
    """Suggestions for a partly typed query, from a fixed set of texts (see :meth:`from_index`)."""

    def __init__(self, items: Iterable[Suggestion], popularity: Mapping[str, int] | None = None,
                 per_article: int = 2) -> None:
        popularity = popularity or {}
        self.per_article = per_article
        chosen: dict[str, Suggestion] = {}
        for item in items:
            key = normalize(item.text)
            if not key or not _WORD_RE.search(key):
                continue
            old = chosen.get(key)
            if old is None or KINDS.index(item.kind) < KINDS.index(old.kind):
                chosen[key] = item
        self.items: list[Suggestion] = list(chosen.values())
        # static rank, lower first: shorter texts and more helpful articles first
        self.rank: list[float] = [
            len(s.text) - 6.0 * math.log2(1 + popularity.get(s.article_id or "", 0)) for s in self.items
        ]
        jamo_rows: list[tuple[str, int, int]] = []
        cho_rows: list[tuple[str, int, int]] = []
        big: list[str] = []
        starts: list[int] = []  # offset in the infix text where each candidate begins
        size = 0
        marks = bytearray()  # 1 where a letter (syllable) begins in the infix text
        vocab: dict[str, list[int]] = {}
        for cid, key in enumerate(chosen):
            words = _WORD_RE.findall(key)
            jwords = [decompose(w) for w in words]
            cwords = [choseong(w) for w in words]
            for i in range(len(words)):
                jamo_rows.append(("".join(jwords[i:]), cid, PREFIX if i == 0 else WORD))
                cho_rows.append(("".join(cwords[i:]), cid, CHO_PREFIX if i == 0 else CHO_WORD))
            for jw in set(jwords):
                vocab.setdefault(jw, []).append(cid)
            full, offsets = decompose_marked("".join(words))
            starts.append(size)
            size += len(full) + 1
            row = bytearray(len(full) + 1)
            for o in offsets:
                row[o] = 1
            big.append(full + "\n")
            marks += row
        self._jamo = _PrefixTable(jamo_rows, self.rank)
        self._cho = _PrefixTable(cho_rows, self.rank)
        self._infix = "".join(big)
        self._marks = bytes(marks)
        self._starts = starts
        self._words = list(vocab)
        self._postings = [sorted(vocab[w], key=self.rank.__getitem__)[:_TOP] for w in self._words]
        self._deletes: dict[str, list[int]] = {}
        for wid, w in enumerate(self._words):
            for variant in _prefix_variants(w):
                self._deletes.setdefault(variant, []).append(wid)

    @classmethod
    def from_index(cls, index: LoadedIndex, popularity: Mapping[str, int] | None = None,
                   audience: str = "public") -> Suggester:
        """The candidates stored in the build for an audience (see :func:`suggestion_items`)."""
        return cls(index.suggestions[audience], popularity)

    def __len__(self) -> int:
        return len(self.items)

    def suggest(self, query: str, limit: int = 8) -> list[Suggestion]:
        """Up to ``limit`` suggestions for ``query``, best first; [] for an empty query."""
        return [s for s, _ in self.suggest_scored(query, limit)]

    def suggest_scored(self, query: str, limit: int = 8) -> list[tuple[Suggestion, str]]:
        """Like :meth:`suggest`, with how each one matched (``prefix``, ``word``, ``choseong``, ...)."""
        limit = max(1, min(limit, MAX_LIMIT))
        words = _WORD_RE.findall(normalize(query))
        q = "".join(decompose(w) for w in words)
        if not q:
            return []
        found: dict[int, int] = {}

        def take(pairs: Iterable[tuple[int, int]]) -> None:
            for tier, cid in pairs:
                if tier < found.get(cid, 99):
                    found[cid] = tier

        want = limit * 3
        take(self._jamo.find(q))
        if is_choseong_query("".join(words)):
            take(self._cho.find(q))  # consonants only: infix and typos would just be noise
        else:
            if len(found) < want and len(q) >= 4:
                take(self._infix_matches(q, want))
            if len(found) < want and len(words) == 1 and _FUZZY_MIN <= len(q) <= _FUZZY_MAX:
                take(self._fuzzy_matches(q))
        ordered = sorted(found.items(), key=lambda ct: (ct[1], self.rank[ct[0]], ct[0]))
        out: list[tuple[Suggestion, str]] = []
        per: dict[str, int] = {}
        for cid, tier in ordered:
            item = self.items[cid]
            if item.article_id is not None:
                if per.get(item.article_id, 0) >= self.per_article:
                    continue
                per[item.article_id] = per.get(item.article_id, 0) + 1
            out.append((item, TIER_NAMES[tier]))
            if len(out) == limit:
                break
        return out

    def _infix_matches(self, q: str, want: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        text, marks = self._infix, self._marks
        pos = text.find(q)
        seen = 0
        while pos >= 0 and seen < _SCAN_CAP and len(out) < want * 4:
            seen += 1
            if marks[pos]:
                out.append((INFIX, bisect_right(self._starts, pos) - 1))
            pos = text.find(q, pos + 1)
        return out

    def _fuzzy_matches(self, q: str) -> list[tuple[int, int]]:
        hits: set[int] = set()
        for variant in {q, *(q[:i] + q[i + 1 :] for i in range(len(q)))}:
            hits.update(self._deletes.get(variant, ()))
        out: list[tuple[int, int]] = []
        n = len(q)
        for wid in hits:
            w = self._words[wid]
            if any(within_one_edit(q, w[:m]) for m in (n - 1, n, n + 1) if 0 < m <= len(w)):
                out.extend((FUZZY, cid) for cid in self._postings[wid])
        return out


def _prefix_variants(word: str) -> set[str]:
    """Each prefix of ``word`` of at least ``_FUZZY_MIN - 1`` jamo, and each with one letter deleted."""
    out: set[str] = set()
    for n in range(_FUZZY_MIN - 1, min(len(word), _FUZZY_MAX + 1) + 1):
        p = word[:n]
        out.add(p)
        out.update(p[:i] + p[i + 1 :] for i in range(n))
    return out
