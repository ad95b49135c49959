"""What customers tell editors: "was this helpful?" votes, searches that found no answer, and the search log
(each settled search with the decision the server gave it), with the reports the editors read.

One client counts once per article (votes) or query (reports) per day, and every report ranks by distinct
clients: a thousand votes from one client weigh one. Reads degrade (zero counts) while the engine is
unusable; writes raise :class:`~kb.feedback.engine.StoreUnavailable`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kb.errors import KBError
from kb.feedback import schema as sch
from kb.feedback.engine import OnEngine, StoreUnavailable, clean_query, clean_text, now, since

__all__ = ["FILENAME", "AlreadyLogged", "FeedbackStore", "StoreUnavailable"]

FILENAME = "feedback.sqlite"
UNANSWERED_KINDS = ("none", "contact")  # none: the page settled on no good answer; contact: then contacted support


@dataclass(frozen=True)
class Popular:
    """An article and its votes (distinct clients), for the "popular questions" list."""

    article_id: str
    helpful: int
    not_helpful: int


@dataclass(frozen=True)
class ArticleVotes:
    """An article customers voted "not helpful", with the queries they had typed: what editors fix first."""

    article_id: str
    helpful: int
    not_helpful: int
    queries: tuple[str, ...]  # distinct queries of the "not helpful" votes, most recent first


@dataclass(frozen=True)
class Unanswered:
    """A query customers searched without finding an answer: a missing article, or a missing question."""

    query: str
    none: int  # distinct clients for whom the page settled on "no good answer"
    contact: int  # distinct clients who then filled in the contact form
    last: str  # when it last happened (UTC, ISO 8601)


DECISIONS = ("answer", "suggest", "none")
LOW_CONFIDENCE = 0.5  # a settled search below this confidence counts as a gap even when something was shown


# A client's gap reports (unanswered, low confidence, "not helpful", one per query) beyond its first this many of a
# day count for nothing in the gap report: a customer rarely meets more gaps in a day, and one client's flood of
# distinct junk cannot push the gaps other customers met off the report's capped list (issue 17).
GAP_REPORTS_PER_CLIENT_DAY = 10


class AlreadyLogged(KBError):
    """A signed search id was logged already (:mod:`kb.feedback.searchids`): each id counts once."""


@dataclass(frozen=True)
class DaySearches:
    """Settled searches of one day: distinct customers per decision (one customer whose searches got two
    decisions counts in both), distinct customers in all, and logged searches (distinct client and query)."""

    day: str
    answer: int
    suggest: int
    none: int
    customers: int = 0
    searches: int = 0


@dataclass(frozen=True)
class TopQuery:
    query: str
    clients: int
    decision: str  # the decision most of its searches got


@dataclass(frozen=True)
class GapQuery:
    """A query customers did not get a good answer for: its distinct clients, and why it counts as a gap."""

    query: str
    clients: int
    sources: tuple[str, ...]  # unanswered | low_confidence | not_helpful
    top_article: str | None  # the article shown first, when one was


@dataclass(frozen=True)
class GapReport:
    """The gap queries, most customers first, and the (pseudonymous) clients counted for each: a group of queries
    counts a client who typed two of them once."""

    queries: list[GapQuery]
    clients: dict[str, set[str]]


class FeedbackStore(OnEngine):
    """Votes, unanswered reports and the search log on an engine."""

    # -- writes -------------------------------------------------------------------------------------

    def add(self, query: str, article_id: str, helpful: bool, client: str = "") -> int:
        """Record a vote; a client's later vote on the same article the same day replaces its earlier one."""
        created, day = now()

        def work(db: Any) -> int:
            return int(db.execute(self._sql(
                "INSERT INTO votes (created, day, client, query, article_id, helpful) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (day, client, article_id) DO UPDATE SET created = excluded.created, "
                "query = excluded.query, helpful = excluded.helpful RETURNING id"),
                (created, day, self._client(db, client), clean_query(query), clean_text(article_id, 200),
                 1 if helpful else 0)).fetchone()[0])

        return self._run(work)

    def add_unanswered(self, query: str, kind: str, client: str = "") -> int:
        """Record a search that found no answer (``kind``: none | contact), once per client, query and day."""
        if kind not in UNANSWERED_KINDS:
            raise ValueError(f"kind must be one of {', '.join(UNANSWERED_KINDS)}, got {kind!r}")
        created, day = now()

        def work(db: Any) -> int:
            return int(db.execute(self._sql(
                "INSERT INTO unanswered (created, day, client, query, kind) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (day, client, query, kind) DO UPDATE SET created = excluded.created RETURNING id"),
                (created, day, self._client(db, client), clean_query(query), kind)).fetchone()[0])

        return self._run(work)

    def add_search(self, query: str, decision: str, top_article: str | None, confidence: float, locale: str,
                   client: str = "", once: tuple[str, int] | None = None) -> int:
        """Log a settled search (once per client, query and day: the latest decision kept). ``once``: (nonce,
        expires as a Unix time) of the signed search id it came with; an id logged already raises
        :class:`AlreadyLogged` and changes nothing."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        if not confidence == confidence or not 0.0 <= confidence <= 1.0:  # NaN or out of range
            raise ValueError("confidence must be between 0 and 1")
        created, day = now()

        def work(db: Any) -> int:
            if once is not None:
                db.execute(self._sql("DELETE FROM search_ids WHERE expires < ?"), (int(time.time()),))
                if db.execute(self._sql("INSERT INTO search_ids (nonce, expires) VALUES (?, ?) ON CONFLICT (nonce) "
                                        "DO NOTHING RETURNING nonce"), (once[0], int(once[1]))).fetchone() is None:
                    raise AlreadyLogged("this search was logged already")
            return int(db.execute(self._sql(
                "INSERT INTO searches (created, day, client, locale, query, decision, top_article, confidence) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, client, query) DO UPDATE SET "
                "created = excluded.created, decision = excluded.decision, top_article = excluded.top_article, "
                "confidence = excluded.confidence, locale = excluded.locale RETURNING id"),
                (created, day, self._client(db, client), clean_text(locale, 16) or "-", clean_query(query), decision,
                 clean_text(top_article, 200) if top_article else None, float(confidence))).fetchone()[0])

        return self._run(work)

    def prune(self, days: int) -> int:
        """Delete logged searches and unanswered reports older than ``days`` days; return how many went."""
        cutoff = since(days)

        def work(db: Any) -> int:
            gone = 0
            for table in ("searches", "unanswered"):
                gone += max(0, db.execute(self._sql(f"DELETE FROM {table} WHERE day < ?"), (cutoff,)).rowcount)
            return gone

        return self._run(work)

    # -- reports ------------------------------------------------------------------------------------

    _HELPFUL = "COUNT(DISTINCT CASE WHEN helpful = 1 THEN client END)"
    _UNHELPFUL = "COUNT(DISTINCT CASE WHEN helpful = 0 THEN client END)"

    def counts(self, article_id: str) -> dict[str, int]:
        """``{"helpful": n, "not_helpful": m}`` in distinct clients (zeros when none, or when unusable)."""
        rows = self._read(f"SELECT {self._HELPFUL}, {self._UNHELPFUL} FROM votes WHERE article_id = ?", (article_id,))
        h, n = rows[0] if rows else (0, 0)
        return {"helpful": int(h or 0), "not_helpful": int(n or 0)}

    def popular(self, limit: int = 10) -> list[Popular]:
        """Articles voted helpful, by most distinct clients (ties: fewer "not helpful", then id)."""
        rows = self._read(
            f"SELECT article_id, h, n FROM (SELECT article_id, {self._HELPFUL} AS h, {self._UNHELPFUL} AS n "
            "FROM votes GROUP BY article_id) t WHERE h > 0 ORDER BY h DESC, n ASC, article_id ASC LIMIT ?",
            (max(0, int(limit)),))
        return [Popular(str(a), int(h), int(n)) for a, h, n in rows]

    def helpful_counts(self) -> dict[str, int]:
        """Distinct clients who voted each article helpful (articles with none left out)."""
        rows = self._read(f"SELECT article_id, {self._HELPFUL} FROM votes GROUP BY article_id")
        return {str(a): int(h) for a, h in rows if h}

    def unhelpful(self, limit: int = 20, queries: int = 5) -> list[ArticleVotes]:
        """Articles voted "not helpful", by most distinct clients (ties: fewer helpful, then id), each with
        up to ``queries`` of the queries behind those votes, most recent first."""
        rows = self._read(
            f"SELECT article_id, h, n FROM (SELECT article_id, {self._HELPFUL} AS h, {self._UNHELPFUL} AS n "
            "FROM votes GROUP BY article_id) t WHERE n > 0 ORDER BY n DESC, h ASC, article_id ASC LIMIT ?",
            (max(0, int(limit)),))
        out = []
        for article_id, h, n in rows:
            texts = self._read("SELECT query FROM votes WHERE article_id = ? AND helpful = 0 AND query <> '' "
                               "GROUP BY query ORDER BY MAX(id) DESC LIMIT ?", (article_id, max(0, int(queries))))
            out.append(ArticleVotes(str(article_id), int(h), int(n), tuple(str(q) for (q,) in texts)))
        return out

    def unanswered(self, limit: int = 20) -> list[Unanswered]:
        """Queries that found no answer, by most distinct clients (ties: more contacts, then most recent)."""
        rows = self._read(
            "SELECT query, n, c, last FROM (SELECT query, "
            "COUNT(DISTINCT CASE WHEN kind = 'none' THEN client END) AS n, "
            "COUNT(DISTINCT CASE WHEN kind = 'contact' THEN client END) AS c, MAX(created) AS last "
            "FROM unanswered GROUP BY query) t ORDER BY n + c DESC, c DESC, last DESC, query ASC LIMIT ?",
            (max(0, int(limit)),))
        return [Unanswered(str(q), int(n), int(c), str(last)) for q, n, c, last in rows]

    def searches_per_day(self, days: int = 30) -> list[DaySearches]:
        """Distinct customers per decision, and logged searches, per day for the last ``days`` days, oldest first
        (days without any left out): one client's hundred searches count once in the chart."""
        per = ", ".join(f"COUNT(DISTINCT CASE WHEN decision = '{d}' THEN client END)" for d in DECISIONS)
        rows = self._read(f"SELECT day, {per}, COUNT(DISTINCT client), COUNT(*) FROM searches WHERE day >= ? "
                          "GROUP BY day ORDER BY day", (since(days),))
        return [DaySearches(str(d), int(a), int(s), int(n), int(c), int(k)) for d, a, s, n, c, k in rows]

    def top_queries(self, days: int = 30, limit: int = 20) -> list[TopQuery]:
        """The most searched queries (distinct clients) of the last ``days`` days."""
        rows = self._read(
            "SELECT query, COUNT(DISTINCT client) AS c, "
            "SUM(CASE WHEN decision = 'answer' THEN 1 ELSE 0 END) AS a, "
            "SUM(CASE WHEN decision = 'suggest' THEN 1 ELSE 0 END) AS s, "
            "SUM(CASE WHEN decision = 'none' THEN 1 ELSE 0 END) AS n "
            "FROM searches WHERE day >= ? GROUP BY query ORDER BY c DESC, query ASC LIMIT ?",
            (since(days), max(0, int(limit))))
        out = []
        for query, clients, a, s_, n in rows:
            decision = max((int(a), "answer"), (int(s_), "suggest"), (int(n), "none"))[1]
            out.append(TopQuery(str(query), int(clients), decision))
        return out

    def gap_queries(self, days: int = 30, limit: int = 2000) -> list[GapQuery]:
        """Queries that found no good answer in the last ``days`` days (see :meth:`gap_report`)."""
        return self.gap_report(days, limit).queries

    def gap_clients(self, days: int = 30, limit: int = 2000) -> dict[str, set[str]]:
        """The clients counted for each of :meth:`gap_queries` (see :meth:`gap_report`)."""
        return self.gap_report(days, limit).clients

    def gap_report(self, days: int = 30, limit: int = 2000,
                   per_client: int = GAP_REPORTS_PER_CLIENT_DAY) -> GapReport:
        """Queries that found no good answer in the last ``days`` days: reported unanswered, settled with low
        confidence (or none), or behind a "not helpful" vote; by most distinct clients, each client counting for
        its first ``per_client`` queries of a day only. Ties: the queries that had more of their clients'
        attention first (a client's counted queries of a day share one vote), then by text. Grouped in SQL (only
        the ``limit`` queries kept and their clients leave the database); empty while the store is unusable."""
        first, cap = since(days), max(1, int(per_client))
        rows = self._read(_GAP_SQL, (first, first, LOW_CONFIDENCE, first, cap, cap, cap, max(0, int(limit))))
        queries: dict[str, GapQuery] = {}
        clients: dict[str, set[str]] = {}
        for query, n, unanswered, low, unhelpful, top, _share, client in rows:
            q = str(query)
            if q not in queries:
                sources = (("low_confidence",) * bool(low) + ("not_helpful",) * bool(unhelpful)
                           + ("unanswered",) * bool(unanswered))
                queries[q] = GapQuery(q, int(n), sources, str(top) if top else None)
            clients.setdefault(q, set()).add(str(client))
        return GapReport(list(queries.values()), clients)

    def voted_down(self) -> dict[str, set[str]]:
        """Query -> the articles customers voted "not helpful" after typing it, any time (such a vote says the
        article does not answer that wording, however long ago it was cast); empty while the store is unusable."""
        out: dict[str, set[str]] = {}
        for query, article_id in self._read("SELECT DISTINCT query, article_id FROM votes "
                                            "WHERE helpful = 0 AND query <> ''"):
            out.setdefault(str(query), set()).add(str(article_id))
        return out

    def ratings(self) -> list[ArticleVotes]:
        """Every voted article with its helpful / not helpful clients (for the helpful ratio per article)."""
        rows = self._read(f"SELECT article_id, {self._HELPFUL}, {self._UNHELPFUL} FROM votes GROUP BY article_id "
                          "ORDER BY article_id")
        return [ArticleVotes(str(a), int(h), int(n), ()) for a, h, n in rows]

    def export(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row worth moving to another engine (:data:`kb.feedback.schema.EXPORTED`), and the salt."""
        out = {table: self._rows(f"SELECT {', '.join(columns)} FROM {table} "
                                 f"ORDER BY {sch.EXPORT_ORDER.get(table, 'id')}")
               for table, columns in sch.EXPORTED.items()}
        out["kb_meta"] = self._rows("SELECT key, value FROM kb_meta ORDER BY key")
        return out


# The gap report in one statement (both engines): every report of the window, one row per client, day and query
# (the first time it came, its sources); a client's first GAP_REPORTS_PER_CLIENT_DAY queries of a day counted, each
# with a share of the client's day (one sort for both windows); queries ranked by distinct counted clients, then by
# shares; the ``limit`` first returned with their counted clients (one row per day and client). Parameters: since,
# since, LOW_CONFIDENCE, since, the cap three times, limit.
_GAP_SQL = """
WITH reports AS (
  SELECT day, client, query, created, 1 AS u, 0 AS l, 0 AS h, NULL AS top FROM unanswered WHERE day >= ?
  UNION ALL SELECT day, client, query, created, 0, 1, 0, top_article FROM searches
    WHERE day >= ? AND (decision = 'none' OR confidence < ?)
  UNION ALL SELECT day, client, query, created, 0, 0, 1, article_id FROM votes
    WHERE day >= ? AND helpful = 0 AND query <> ''
), counted AS (
  SELECT client, query, u, l, h, top, 1.0 / (CASE WHEN reported < ? THEN reported ELSE ? END) AS share FROM (
    SELECT client, query, u, l, h, top,
      ROW_NUMBER() OVER w AS n, COUNT(*) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS reported
    FROM (SELECT day, client, query, MIN(created) AS first_at, MAX(u) AS u, MAX(l) AS l, MAX(h) AS h, MIN(top) AS top
          FROM reports GROUP BY day, client, query) f
    WINDOW w AS (PARTITION BY day, client ORDER BY first_at, query)) t
  WHERE n <= ?
), ranked AS (
  SELECT query, COUNT(DISTINCT client) AS clients, MAX(u) AS u, MAX(l) AS l, MAX(h) AS h, MIN(top) AS top,
    SUM(share) AS shares
  FROM counted GROUP BY query ORDER BY clients DESC, shares DESC, query ASC LIMIT ?
)
SELECT r.query, r.clients, r.u, r.l, r.h, r.top, r.shares, c.client
FROM ranked r JOIN counted c ON c.query = r.query
ORDER BY r.clients DESC, r.shares DESC, r.query ASC, c.client ASC
"""
