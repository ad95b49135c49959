"""Evidence for learning: which article answered which wording, recorded server-side, and the editors' decisions
on learned pairs. The one policy that turns them into learned questions is :mod:`kb.feedback.learning`.

A piece of evidence is (wording, article, signal) from a pseudonymous client, with kb's own rank of the article
for that wording when it was recorded and whether kb then answered the wording outright (both computed by the
server: a client's word about kb's ranking is never taken), and the audience the search was made for. Signals,
strongest first:

================  ============================================================================================
``helpful``       a customer's "was this helpful? yes" on the article, for the wording they searched
``copied``        an agent searched the wording in /agent and copied the article's answer (agents are trusted)
``reformulated``  a search with no good answer, then one in the same visit the customer settled on the
                  article: the *first* wording -> the article
``opened``        the customer opened the article and neither searched again nor went to contact
``unhelpful``     "not helpful" on the article for the wording: a veto
================  ============================================================================================

Stored once: one client counts once per (wording, article, signal), whatever it sends again, and a client's
evidence rows per day are capped (:data:`DAILY_CAP`): a script on one address buys at most that many rows a day.
Wordings are stored normalised (:func:`normalise_wording`: personal data scrubbed as the search log is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kb.feedback.engine import Engine, OnEngine, clean_query, clean_text, now, since, storable
from kb.limits import MAX_ARTICLE_ID_CHARS, MAX_WORDING_CHARS

SIGNALS = ("helpful", "opened", "reformulated", "copied", "unhelpful")
AUDIENCES = ("public", "agents")  # the audience the search was made for (agents: with the agent key)
DECISIONS = ("accepted", "rejected", "promoted")  # promoted: an editor made the wording a question of the article
DAILY_CAP = 30  # evidence rows per client and (UTC) day; a customer's visit gives a handful
RANK_DEPTH = 10  # a rank beyond this is stored as NULL ("not in kb's results"), as the server sees no deeper
# dropped from the end of a wording: "환불 언제 되나요?", "환불 언제 되나요??" and "환불 언제 되나요~" are one wording
_TRAILING = "?!.~？！。～… \t"


def normalise_wording(text: str) -> str:
    """A searched text as kb learns it: personal data scrubbed (:func:`~kb.feedback.engine.clean_query`),
    whitespace collapsed, casefolded, trailing ``?!.~`` dropped. ``""`` when nothing is left or the wording is
    longer than :data:`~kb.limits.MAX_WORDING_CHARS` (a pasted message, not a way of asking): not learnable."""
    wording = clean_query(text).casefold().rstrip(_TRAILING)
    return wording if len(wording) <= MAX_WORDING_CHARS else ""


@dataclass(frozen=True)
class EvidenceRow:
    """One stored piece of evidence."""

    query: str  # the normalised wording
    article_id: str
    signal: str  # one of SIGNALS
    client: str  # salted hash of the client's address
    rank: int | None  # kb's 1-based rank of the article for the wording when recorded; None beyond RANK_DEPTH
    audience: str  # public | agents
    day: str  # UTC, ISO 8601
    confident: bool | None = None  # whether kb's search of the wording decided "answer" (a confident top hit)


class Evidence(OnEngine):
    """Evidence and the editors' decisions on an engine. Writes and reads raise
    :class:`~kb.feedback.engine.StoreUnavailable` while the store is unusable (a build must know the difference
    between "nothing learned" and "the store is away")."""

    def __init__(self, engine: Engine, daily_cap: int = DAILY_CAP) -> None:
        super().__init__(engine)
        self.daily_cap = daily_cap

    def add(self, query: str, article_id: str, signal: str, client: str = "", rank: int | None = None,
            audience: str = "public", confident: bool | None = None) -> bool:
        """Record that ``article_id`` answered ``query`` for ``client`` (``signal``: one of :data:`SIGNALS`);
        ``rank`` is kb's own 1-based rank of the article for the query, as the server computed it (None, or
        beyond :data:`RANK_DEPTH`: not in kb's results), and ``confident`` whether the server's search of the
        query decided ``answer`` (a confident top hit, which the policy lets only an editor overturn; None: unknown).

        True when stored; False, and nothing stored, for a wording that cannot be learned (empty, too long), a
        repeat (this client already said this about this pair) or a client past its daily cap."""
        if signal not in SIGNALS:
            raise ValueError(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
        if audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, got {audience!r}")
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
            raise ValueError(f"rank must be a 1-based rank or None, got {rank!r}")
        article = clean_text(article_id, MAX_ARTICLE_ID_CHARS)
        if not article:
            raise ValueError("article_id is empty")
        wording = normalise_wording(query)
        if not wording:
            return False
        stored_rank = rank if rank is not None and rank <= RANK_DEPTH else None
        sure = None if confident is None else int(bool(confident))
        created, day = now()

        def work(db: Any) -> bool:
            who = self._client(db, client)
            # one statement: the cap and the uniqueness are checked where the row is written (SQLite runs it
            # under its write lock; on PostgreSQL two replicas racing for one client may overshoot by a row)
            row = db.execute(self._sql(
                "INSERT INTO evidence (created, day, client, query, article_id, signal, rank, confident, audience) "
                "SELECT ?, ?, ?, ?, ?, ?, CAST(? AS INTEGER), CAST(? AS INTEGER), ? "
                "WHERE (SELECT COUNT(*) FROM evidence WHERE client = ? AND day = ?) < ? "
                "ON CONFLICT (client, query, article_id, signal) DO NOTHING RETURNING id"),
                (created, day, who, wording, article, signal, stored_rank, sure, audience, who, day,
                 int(self.daily_cap))).fetchone()
            return row is not None

        return self._run(work)

    def rows(self, days: int | None = None) -> list[EvidenceRow]:
        """Every piece of evidence (of the last ``days`` days when given), oldest first."""
        where, params = ("WHERE day >= ?", (since(days),)) if days is not None else ("", ())
        return [EvidenceRow(str(q), str(a), str(s), str(c), None if r is None else int(r), str(au), str(d),
                            None if sure is None else bool(sure))
                for q, a, s, c, r, au, d, sure in self._rows(
                    "SELECT query, article_id, signal, client, rank, audience, day, confident FROM evidence "
                    f"{where} ORDER BY id", params)]

    def forget(self, query: str | None = None, article_id: str | None = None) -> int:
        """Delete the evidence about a wording, an article or one pair (an editor's "start over", or an article
        that was deleted); return how many rows went. Decisions are kept: a rejection sticks."""
        if query is None and article_id is None:
            raise ValueError("name a wording, an article or both")
        clauses, params = [], []
        if query is not None:
            clauses.append("query = ?")
            params.append(normalise_wording(query))
        if article_id is not None:
            clauses.append("article_id = ?")
            params.append(storable(article_id))
        sql = self._sql(f"DELETE FROM evidence WHERE {' AND '.join(clauses)}")
        return self._run(lambda db: max(0, int(db.execute(sql, tuple(params)).rowcount)))

    def prune(self, days: int) -> int:
        """Delete evidence older than ``days`` days (what customers said long ago may no longer hold)."""
        cutoff = since(days)
        return self._run(lambda db: max(0, int(db.execute(self._sql("DELETE FROM evidence WHERE day < ?"),
                                                          (cutoff,)).rowcount)))

    # -- the editors' decisions ---------------------------------------------------------------------

    def decide(self, query: str, article_id: str, decision: str) -> None:
        """Record an editor's decision on the pair (``decision``: accepted | rejected | promoted), replacing an
        earlier one. ``rejected`` sticks: the pair is never learned again, whatever evidence comes later;
        ``accepted`` makes a pending pair live; ``promoted``: the wording is now a question in the article file."""
        if decision not in DECISIONS:
            raise ValueError(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        wording = normalise_wording(query)
        article = clean_text(article_id, MAX_ARTICLE_ID_CHARS)
        if not wording or not article:
            raise ValueError("a decision needs a learnable wording and an article id")
        decided, _ = now()
        self._run(lambda db: db.execute(self._sql(
            "INSERT INTO learn_decisions (query, article_id, decision, decided) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (query, article_id) DO UPDATE SET decision = excluded.decision, decided = excluded.decided"),
            (wording, article, decision, decided)))

    def undecide(self, query: str, article_id: str) -> bool:
        """Withdraw the decision on a pair (the policy decides it again); False when there was none."""
        sql = self._sql("DELETE FROM learn_decisions WHERE query = ? AND article_id = ?")
        params = (normalise_wording(query), clean_text(article_id, MAX_ARTICLE_ID_CHARS))
        return self._run(lambda db: int(db.execute(sql, params).rowcount) > 0)

    def decisions(self) -> dict[tuple[str, str], str]:
        """``{(wording, article_id): decision}`` for every pair an editor decided."""
        return {(str(q), str(a)): str(d) for q, a, d in
                self._rows("SELECT query, article_id, decision FROM learn_decisions ORDER BY query, article_id")}
