"""Gaps grouped by meaning: the searches customers got no good answer for (reported unanswered, settled with
low confidence, voted "not helpful"), grouped so that one group is one thing for an editor to fix, each with
a suggestion: add its queries as questions of the nearest article, or draft a new article.

How: every gap query is embedded as the live search embeds it (:meth:`kb.search.searcher.Searcher.embed_queries`) and
analysed as the search analyses it (Kiwi morphemes, character n-grams). Two queries' similarity is the search's
own fusion of the three (0.7 / 0.15 / 0.15, cosine on vectors centred on the build's mean and on tf-idf
weights); groups come from complete-linkage agglomerative clustering cut at a distance threshold
(``scipy.cluster.hierarchy``, which scikit-learn's AgglomerativeClustering runs too: called directly on the
condensed distances, 10,000 queries need a third of the memory). The most frequent queries of each group are
searched; when they point to an article confidently enough the group becomes "add as a question" of it, and
groups pointing to the same article are merged (one article, one fix); the queries of the other groups are
grouped again among themselves with a looser threshold, each group then a new article to write. An article
customers voted "not helpful" after typing one of a group's wordings is never suggested for that group
(:meth:`kb.feedback.store.FeedbackStore.voted_down`). The store ranks and caps the gap queries, and says which
clients count for each (:meth:`kb.feedback.store.FeedbackStore.gap_report`: distinct clients, a client's first few
reports of a day only), so one client's flood weighs one customer.
``scripts/bench_gaps.py thresholds`` is the measurement behind both thresholds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kb.limits import MAX_QUERY_CHARS
from kb.search.fusion import DEFAULT
from kb.search.searcher import flat_vectors
from kb.text.analysis import char_ngrams

if TYPE_CHECKING:
    import numpy as np

    from kb.feedback.store import FeedbackStore, GapQuery
    from kb.search.searcher import Searcher

# Distances (1 - fused similarity) under which every two queries of a group must be: first among all gap
# queries, then, looser, among the queries of the groups no article gathers (nothing else can pull a new
# topic's phrasings together). Measured with `scripts/bench_gaps.py thresholds` on the sample index
# (adjusted Rand index, purity in brackets): 300 simulated gap logs (4 articles' held-out customer queries +
# 3 of 8 topics no article covers, 6 phrasings each) .726 (.876); all 57 topics at once, a busy month
# (206 queries) .383 (.792); three fixed sets of 3 topics, six phrasings each, .92 / .87 / 1.00 (4 / 4 / 3
# groups: a topic split in two, never mixed). One threshold for both stages did worse: 0.92 (the lowest that
# keeps two of the fixed sets whole) gives .690 (.845) and the busy month .303 (.718), mixing topics.
# A first threshold of 0.82-0.92 keeps tests/test_gaps.py's three topics whole (0.80 splits one).
CLUSTER_DISTANCE = 0.84
NEW_TOPIC_DISTANCE = 0.95
# A group is "close" to its nearest article when the searcher's on-topic probability (the calibrated chance
# that a right answer is among the results), averaged over the group's searched queries, reaches this.
# Same script: the 8 topics no article covers score 0.34-0.72 (highest: bulk orders -> first-order-guide), the
# 49 covered articles' held-out queries 0.79-1.00 (all pointed at the right article); taking only the queries
# the search did not answer, 28 of 32 articles still reach it (0.66-0.98), 24 pointed at the right one.
CLOSE_ON_TOPIC = 0.75
SEARCHED = 5  # most frequent queries of a group that are searched for its suggestion
MAX_EXAMPLES = 10  # queries shown per group (most frequent first)
DEFAULT_LIMIT = 30  # groups reported
MAX_QUERIES = 2000  # gap queries grouped (the most frequent); grouping memory grows with its square

ADD_QUESTION, NEW_ARTICLE = "add_question", "new_article"


class VectorCache(OrderedDict[str, "np.ndarray"]):
    """Query vectors by text for a running service (the model is the slow part of grouping), the oldest
    dropped past ``size``: ~1.5 KB a query, 30 MB at the default size."""

    def __init__(self, size: int = 20000) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, key: str, value: np.ndarray) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


@dataclass(frozen=True)
class Suggestion:
    """What to do about a group: add its queries to ``article_id``, or write a new article."""

    kind: str  # add_question | new_article
    article_id: str | None = None
    title: str | None = None
    on_topic: float = 0.0  # the measure that decided (see CLOSE_ON_TOPIC)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if self.article_id is not None:
            out["article_id"] = self.article_id
        return out


@dataclass(frozen=True)
class GapGroup:
    """Queries that mean the same thing and found no good answer."""

    count: int  # distinct clients behind the group's queries (one client counts once per group)
    examples: tuple[str, ...]  # the group's queries, most frequent first (up to MAX_EXAMPLES)
    queries: int  # distinct queries in the group
    suggestion: Suggestion
    not_helpful: tuple[str, ...] = ()  # articles voted "not helpful" after one of its queries: never suggested

    def to_json(self) -> dict[str, Any]:
        out = {"count": self.count, "examples": list(self.examples), "suggestion": self.suggestion.to_json()}
        return {**out, "not_helpful": list(self.not_helpful)} if self.not_helpful else out


# --- grouping ---------------------------------------------------------------------------------------


def centre_of(searcher: Searcher) -> np.ndarray:
    """The mean vector of the live build. e5 vectors share one dominant direction (any two queries are
    ~0.8 cosine apart); taking it out spreads the topics apart before cosine distances are compared."""
    import numpy as np

    vectors = flat_vectors(searcher.index.faiss_index)
    return np.asarray(vectors.mean(axis=0) if len(vectors) else np.zeros(vectors.shape[1]), dtype=np.float32)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    import numpy as np

    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    x[~x.any(axis=1)] = 1.0 / np.sqrt(x.shape[1])  # a zero vector has no direction: give it one
    return x


def _tfidf(docs: Sequence[Sequence[str]]) -> Any:
    """Rows of L2-normalised tf-idf weights (sparse) of pre-tokenised texts, idf taken over these texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(docs):
        from scipy.sparse import csr_matrix

        return csr_matrix((len(docs), 1))
    return TfidfVectorizer(analyzer=list, sublinear_tf=True).fit_transform(docs)


def distances(vectors: np.ndarray, terms: Sequence[Sequence[str]], grams: Sequence[Sequence[str]],
              centre: np.ndarray | None = None, block: int = 512) -> np.ndarray:
    """Condensed pairwise distances (``scipy.spatial.distance`` order): 1 - the similarity the search itself
    fuses (:data:`kb.search.fusion.DEFAULT`: 0.7 dense, 0.15 morphemes, 0.15 character n-grams), with cosine on the
    centred query vectors and on tf-idf weights of the terms. Korean customers reuse the key noun (포인트,
    탈퇴, 판매자) where e5-small's vectors of short queries wander; the lexical part holds them together."""
    import numpy as np

    n = len(vectors)
    x = np.asarray(vectors, dtype=np.float32)
    if centre is not None and n:
        centred = x - centre
        keep = np.linalg.norm(centred, axis=1) > 1e-6  # a vector that is the centre itself keeps its direction
        x = np.where(keep[:, None], centred, x)
    x = _unit_rows(x) if n else x
    weights = (DEFAULT.dense_weight, DEFAULT.lexical_weight, DEFAULT.char_weight)
    total = sum(weights)
    morph, chars = _tfidf(terms), _tfidf(grams)
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    pos = 0
    for start in range(0, n, block):  # a block of rows at a time: memory stays at the condensed matrix
        rows = slice(start, min(start + block, n))
        sim = weights[0] * (x[rows] @ x.T)
        sim += weights[1] * (morph[rows] @ morph.T).toarray() + weights[2] * (chars[rows] @ chars.T).toarray()
        sim /= total
        for i in range(rows.start, rows.stop):
            out[pos : pos + n - i - 1] = 1.0 - sim[i - rows.start, i + 1 :]
            pos += n - i - 1
    return np.clip(out, 0.0, 2.0, out=out)


def cluster(condensed: np.ndarray, n: int, threshold: float = CLUSTER_DISTANCE) -> np.ndarray:
    """A group label for each of ``n`` items: complete linkage on the condensed distances, cut at
    ``threshold`` (every two queries of a group are closer than it: no chains of drifting topics)."""
    import numpy as np

    if n < 2:
        return np.zeros(n, dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage

    return np.asarray(fcluster(linkage(condensed, method="complete"), threshold, criterion="distance"),
                      dtype=np.int64)


def _embed(searcher: Searcher, texts: Sequence[str], cache: MutableMapping[str, np.ndarray] | None) -> np.ndarray:
    """Query vectors as the live search makes them; ``cache`` (text -> vector) spares the model on reloads."""
    import numpy as np

    known = {t: cache[t] for t in texts if t in cache} if cache is not None else {}
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    for start in range(0, len(missing), 256):
        chunk = missing[start : start + 256]
        known.update(zip(chunk, searcher.embed_queries(chunk), strict=True))
        if cache is not None:
            cache.update((t, known[t]) for t in chunk)
    if not texts:
        return np.zeros((0, searcher.queries.embedder.dimension), dtype=np.float32)
    return np.vstack([known[t] for t in texts])


# --- suggestions ------------------------------------------------------------------------------------


def suggest(searcher: Searcher, queries: Sequence[str], exclude: Collection[str] = ()) -> Suggestion:
    """The article the group's most frequent queries find first (each weighted by the searcher's confidence
    in it), if the searcher is on topic enough for them (mean on-topic probability >= CLOSE_ON_TOPIC);
    otherwise a new article.

    ``exclude``: articles customers said do not answer these queries. A query whose first article is one of them
    votes for its next other article (of the top 5, the on-topic probability's horizon) with, as its weight and
    its on-topic measure, the chance that a right article is among the others given that the first is wrong:
    (on_topic - confidence) / (1 - confidence)."""

    searched = [text[:MAX_QUERY_CHARS] for text in (" ".join(q.split()) for q in queries[:SEARCHED]) if text]
    if not searched:
        return Suggestion(NEW_ARTICLE)
    responses = searcher.search_many(searched, k=5 if exclude else 1)
    votes: dict[str, float] = {}
    ons = []
    for r in responses:
        chance, on = r.confidence, r.on_topic
        if r.results and r.results[0].article_id in exclude:
            chance = on = min(max((on - chance) / max(1.0 - chance, 1e-6), 0.0), 1.0)
        ons.append(on)
        allowed = [h.article_id for h in r.results if h.article_id not in exclude]
        if allowed:  # each query votes for its first article with the chance that it is right
            votes[allowed[0]] = votes.get(allowed[0], 0.0) + max(chance, 1e-6)
    on_topic = sum(ons) / len(ons)
    if not votes or on_topic < CLOSE_ON_TOPIC:
        return Suggestion(NEW_ARTICLE, on_topic=round(on_topic, 4))
    article_id = max(votes, key=lambda a: votes[a])  # ties: the article of the more frequent query
    article = searcher.index.articles.get(article_id)
    return Suggestion(ADD_QUESTION, article_id, article.title if article else None, round(on_topic, 4))


# --- the report -------------------------------------------------------------------------------------


def _count(queries: Sequence[GapQuery], clients: Mapping[str, set[str]]) -> int:
    known: set[str] = set()
    unknown = 0
    for q in queries:
        if q.query in clients:
            known |= clients[q.query]
        else:
            unknown += q.clients  # the store could not say who: counted per query
    return len(known) + unknown


def _frequency(q: GapQuery) -> int:
    """Most clients first; ties keep the store's order (the queries with more of their clients' attention first,
    :meth:`kb.feedback.store.FeedbackStore.gap_report`), so a flooding client's queries come after the others'."""
    return -q.clients


def _within(condensed: np.ndarray, n: int, rows: Sequence[int]) -> np.ndarray:
    """The condensed distances among ``rows`` (sorted indices) of a condensed matrix over ``n`` items."""
    import numpy as np

    i, j = np.triu_indices(len(rows), k=1)
    r = np.asarray(rows, dtype=np.int64)
    a, b = r[i], r[j]
    return condensed[n * a - a * (a + 1) // 2 + b - a - 1]


def _suggestion(searcher: Searcher, queries: Sequence[GapQuery],
                memo: MutableMapping[tuple[str, ...], Suggestion] | None, exclude: Collection[str] = ()) -> Suggestion:
    searched = [q.query for q in queries[:SEARCHED]]
    key = (searcher.index.build_id, "\x1f".join(sorted(exclude)), *searched)
    found = memo.get(key) if memo is not None else None
    if found is None:
        found = suggest(searcher, searched, exclude)
        if memo is not None:
            memo[key] = found
    return found


def group_gaps(gaps: Sequence[GapQuery], searcher: Searcher, *, clients: Mapping[str, set[str]] | None = None,
               limit: int = DEFAULT_LIMIT, cache: MutableMapping[str, np.ndarray] | None = None,
               memo: MutableMapping[tuple[str, ...], Suggestion] | None = None,
               threshold: float = CLUSTER_DISTANCE, new_threshold: float = NEW_TOPIC_DISTANCE,
               voted: Mapping[str, Collection[str]] | None = None) -> list[GapGroup]:
    """Group ``gaps`` by meaning and suggest a fix for each of the ``limit`` biggest groups, biggest first.

    Queries are grouped at ``threshold``; groups whose queries find one article become one "add as a question"
    group of it; the queries of the others, which no article gathers, are grouped again among themselves at
    the looser ``new_threshold``. ``cache`` keeps query vectors and ``memo`` suggestions between calls.
    ``voted``: query -> articles voted "not helpful" after it, never suggested for a group holding the query."""

    clients, votes = clients or {}, voted or {}
    gaps = sorted(gaps, key=_frequency)
    if not gaps or limit < 1:
        return []

    def voted_for(rows: Sequence[int]) -> set[str]:
        return {a for r in rows for a in votes.get(gaps[r].query, ())}

    texts = [g.query for g in gaps]
    n = len(texts)
    condensed = distances(_embed(searcher, texts, cache), searcher.analyzer.terms_many(texts),
                          [char_ngrams(t) for t in texts], centre_of(searcher))
    parts: dict[int, list[int]] = {}
    for row, label in enumerate(cluster(condensed, n, threshold)):
        parts.setdefault(int(label), []).append(row)  # rows stay most frequent first
    ranked = sorted(parts.values(), key=lambda rows: (-_count([gaps[r] for r in rows], clients), rows[0]))
    by_article: dict[str, tuple[Suggestion, list[int]]] = {}
    unanswered: dict[int, float] = {}  # rows of the groups no article gathers -> their group's on-topic measure
    for rows in ranked[: 3 * limit]:  # beyond these, groups too small to be shown even after merging
        found = _suggestion(searcher, [gaps[r] for r in rows], memo, voted_for(rows))
        if found.article_id is None:
            unanswered.update((r, found.on_topic) for r in rows)
        else:
            by_article.setdefault(found.article_id, (found, []))[1].extend(rows)
    grouped = [(found, sorted(rows)) for found, rows in by_article.values()]
    if unanswered:
        pool = sorted(unanswered)
        regrouped: dict[int, list[int]] = {}
        looser = max(threshold, new_threshold)  # never split what the first grouping joined
        for row, label in zip(pool, cluster(_within(condensed, n, pool), len(pool), looser), strict=True):
            regrouped.setdefault(int(label), []).append(row)
        grouped += [(Suggestion(NEW_ARTICLE, on_topic=max(unanswered[r] for r in rows)), rows)
                    for rows in regrouped.values()]
    groups = []
    for found, rows in grouped:
        queries = [gaps[r] for r in rows]  # rows in order: most frequent first
        groups.append(GapGroup(_count(queries, clients), tuple(q.query for q in queries[:MAX_EXAMPLES]),
                               len(queries), found, tuple(sorted(voted_for(rows)))))
    return sorted(groups, key=lambda g: (-g.count, -g.queries, g.examples))[:limit]


def find_gaps(store: FeedbackStore, searcher: Searcher, *, days: int = 30, limit: int = DEFAULT_LIMIT,
              max_queries: int = MAX_QUERIES, cache: MutableMapping[str, np.ndarray] | None = None,
              memo: MutableMapping[tuple[str, ...], Suggestion] | None = None) -> list[GapGroup]:
    """The gap groups of the last ``days`` days (see :func:`group_gaps`), from the store's ``max_queries`` gap
    queries of most customers, none suggested to an article voted "not helpful" for its queries."""
    report = store.gap_report(days, limit=max_queries)
    return group_gaps(report.queries, searcher, clients=report.clients, limit=limit, cache=cache, memo=memo,
                      voted=store.voted_down())


def groups_json(groups: Sequence[GapGroup]) -> dict[str, Any]:
    """``{"groups": [{"count", "examples", "suggestion": {"kind", "article_id"?}, "not_helpful"?}]}`` (``kb gaps
    --json``)."""
    return {"groups": [g.to_json() for g in groups]}


def format_groups(groups: Sequence[GapGroup], days: int) -> str:
    """The groups as ``kb gaps`` prints them."""
    if not groups:
        return f"no searches without a good answer in the last {days} days"
    lines = [f"{len(groups)} group(s) of searches without a good answer in the last {days} days, "
             "most customers first:"]
    for g in groups:
        s = g.suggestion
        todo = (f"add as a question of {s.article_id}" + (f" ({s.title})" if s.title else "")
                if s.kind == ADD_QUESTION else "draft a new article")
        lines.append(f"  {g.count:>4} customer(s), {g.queries} quer{'y' if g.queries == 1 else 'ies'}: {todo}"
                     + (f" (voted not helpful: {', '.join(g.not_helpful)})" if g.not_helpful else ""))
        lines.extend(f"         {q}" for q in g.examples)
    return "\n".join(lines)
