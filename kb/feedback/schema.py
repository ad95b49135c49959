"""The feedback store's schema, versioned: each migration is a list of statements per dialect, applied in
order in one transaction at start (under a lock, so replicas starting together apply it once), and the
version reached is recorded in ``kb_schema``."""

from __future__ import annotations

SQLITE, POSTGRES = "sqlite", "postgres"

_ID = {SQLITE: "INTEGER PRIMARY KEY AUTOINCREMENT", POSTGRES: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"}


def _v1(dialect: str) -> list[str]:
    """Votes and unanswered searches with a pseudonymous client and a day: one client counts once per
    article (or query) per day, and reports rank by distinct clients."""
    pk = _ID[dialect]
    return [
        "CREATE TABLE IF NOT EXISTS kb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"""CREATE TABLE votes (
            id {pk},
            created TEXT NOT NULL,
            day TEXT NOT NULL,
            client TEXT NOT NULL,
            query TEXT NOT NULL,
            article_id TEXT NOT NULL,
            helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
            UNIQUE (day, client, article_id))""",
        "CREATE INDEX votes_article ON votes (article_id, helpful)",
        f"""CREATE TABLE unanswered (
            id {pk},
            created TEXT NOT NULL,
            day TEXT NOT NULL,
            client TEXT NOT NULL,
            query TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('none', 'contact')),
            UNIQUE (day, client, query, kind))""",
        "CREATE INDEX unanswered_query ON unanswered (query)",
    ]


# SQLite files written before the schema was versioned hold `feedback` and `unanswered` without clients:
# their rows are kept, each as its own client (who sent them is not known).
LEGACY_SQLITE = [
    "ALTER TABLE unanswered RENAME TO unanswered_legacy",
    *_v1(SQLITE),
    "INSERT INTO votes (created, day, client, query, article_id, helpful) "
    "SELECT created, substr(created, 1, 10), 'legacy-' || id, query, article_id, helpful FROM feedback",
    "INSERT INTO unanswered (created, day, client, query, kind) "
    "SELECT created, substr(created, 1, 10), 'legacy-' || id, query, kind FROM unanswered_legacy",
    "DROP TABLE feedback",
    "DROP TABLE unanswered_legacy",
]
LEGACY_SQLITE_NO_UNANSWERED = [s for s in LEGACY_SQLITE if "unanswered_legacy" not in s]


def _v2(dialect: str) -> list[str]:
    """The search log: each settled search (not every keystroke) with its decision, for the insight page."""
    real = {SQLITE: "REAL", POSTGRES: "DOUBLE PRECISION"}[dialect]
    return [
        f"""CREATE TABLE searches (
            id {_ID[dialect]},
            created TEXT NOT NULL,
            day TEXT NOT NULL,
            client TEXT NOT NULL,
            locale TEXT NOT NULL,
            query TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('answer', 'suggest', 'none')),
            top_article TEXT,
            confidence {real} NOT NULL,
            UNIQUE (day, client, query))""",
        "CREATE INDEX searches_day ON searches (day)",
        "CREATE INDEX unanswered_day ON unanswered (day)",
    ]


def _v3(dialect: str) -> list[str]:
    """One-click fixes (:mod:`kb.app.fixes`), so every replica answers for a fix any replica started. ``busy`` is 1
    while a fix holds the articles folder (editing, then building) and NULL after; it is unique (NULLs are
    not), so the database itself lets one fix at a time hold it, whichever process asks. ``added`` and
    ``messages`` are JSON lists; ``started`` and ``finished`` Unix times."""
    real = {SQLITE: "REAL", POSTGRES: "DOUBLE PRECISION"}[dialect]
    return [
        f"""CREATE TABLE fixes (
            id {_ID[dialect]},
            job TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            article_id TEXT NOT NULL,
            file TEXT NOT NULL,
            added TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('starting', 'running', 'built', 'failed')),
            messages TEXT NOT NULL,
            reverted INTEGER NOT NULL CHECK (reverted IN (0, 1)),
            started {real} NOT NULL,
            finished {real},
            busy INTEGER UNIQUE CHECK (busy = 1),
            CHECK ((state IN ('starting', 'running')) = (busy IS NOT NULL)))""",
    ]


def _v4(dialect: str) -> list[str]:
    """The editors' sign-in state every replica must agree on: sessions signed out before they expire (by
    nonce, kept until then), and wrong admin keys per client (a salted hash) for the sign-in throttle
    (replaced by ``key_failures`` in version 6)."""
    real = {SQLITE: "REAL", POSTGRES: "DOUBLE PRECISION"}[dialect]
    return [
        "CREATE TABLE admin_signouts (nonce TEXT PRIMARY KEY, expires INTEGER NOT NULL)",
        f"CREATE TABLE admin_failures (id {_ID[dialect]}, client TEXT NOT NULL, at {real} NOT NULL)",
        "CREATE INDEX admin_failures_client ON admin_failures (client, at)",
    ]


def _v5(dialect: str) -> list[str]:
    """Evidence for learning (:mod:`kb.feedback.evidence`): which article answered which wording, by whom
    (a salted hash) and how (``signal``), with kb's own 1-based rank of the article for that wording when it
    was recorded (computed by the server; NULL beyond the top 10), which the learning policy's top-3 guard
    reads, and whether kb's search then answered the wording outright (``confident``: decision ``answer``; NULL:
    not known), which its "only an editor overturns a confident answer" guard reads. One client counts once per
    (wording, article, signal). ``learn_decisions`` holds the editors' word
    on a pair, which the policy obeys whatever evidence comes later."""
    return [
        f"""CREATE TABLE evidence (
            id {_ID[dialect]},
            created TEXT NOT NULL,
            day TEXT NOT NULL,
            client TEXT NOT NULL,
            query TEXT NOT NULL,
            article_id TEXT NOT NULL,
            signal TEXT NOT NULL CHECK (signal IN ('helpful', 'opened', 'reformulated', 'copied', 'unhelpful')),
            rank INTEGER CHECK (rank IS NULL OR rank >= 1),
            confident INTEGER CHECK (confident IS NULL OR confident IN (0, 1)),
            audience TEXT NOT NULL CHECK (audience IN ('public', 'agents')),
            UNIQUE (client, query, article_id, signal))""",
        "CREATE INDEX evidence_client_day ON evidence (client, day)",
        "CREATE INDEX evidence_pair ON evidence (query, article_id)",
        """CREATE TABLE learn_decisions (
            query TEXT NOT NULL,
            article_id TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('accepted', 'rejected', 'promoted')),
            decided TEXT NOT NULL,
            PRIMARY KEY (query, article_id))""",
    ]


def _v6(dialect: str) -> list[str]:
    """One throttle for every key (:mod:`kb.feedback.keyfails`): wrong admin, agent and metrics keys per client
    (a salted hash), wherever they were presented, replace the sign-in's own ``admin_failures`` (its rows are
    minutes old at most: dropped, not moved)."""
    real = {SQLITE: "REAL", POSTGRES: "DOUBLE PRECISION"}[dialect]
    return [
        "DROP TABLE admin_failures",
        f"CREATE TABLE key_failures (id {_ID[dialect]}, client TEXT NOT NULL, at {real} NOT NULL)",
        "CREATE INDEX key_failures_client ON key_failures (client, at)",
        "CREATE INDEX key_failures_at ON key_failures (at)",  # pruning the old ones, whoever they came from
    ]


def _v7(dialect: str) -> list[str]:
    """Signed search ids already logged (:mod:`kb.feedback.searchids`), by nonce until they expire: each id counts
    once, whichever replica it reaches."""
    return [
        "CREATE TABLE search_ids (nonce TEXT PRIMARY KEY, expires INTEGER NOT NULL)",
        "CREATE INDEX search_ids_expires ON search_ids (expires)",
    ]


def migrations(dialect: str) -> list[tuple[int, list[str]]]:
    """(version, statements) in order; a store at version n applies every later one."""
    return [(1, _v1(dialect)), (2, _v2(dialect)), (3, _v3(dialect)), (4, _v4(dialect)), (5, _v5(dialect)),
            (6, _v6(dialect)), (7, _v7(dialect))]


LATEST = max(v for v, _ in migrations(SQLITE))


# what moves between engines (FeedbackStore.export, `kb db migrate-sqlite`), table -> columns. Left out on purpose:
# `fixes` (a fix's status matters while its editor waits; its outcome is in the articles and builds already) and
# the sign-in tables (sign-outs and wrong keys of the last hours: after a move, editors sign in again).
EXPORTED: dict[str, tuple[str, ...]] = {
    "votes": ("created", "day", "client", "query", "article_id", "helpful"),
    "unanswered": ("created", "day", "client", "query", "kind"),
    "searches": ("created", "day", "client", "locale", "query", "decision", "top_article", "confidence"),
    # learning's evidence and the editors' decisions on it: a rejection sticks, also across a move
    "evidence": ("created", "day", "client", "query", "article_id", "signal", "rank", "audience", "confident"),
    "learn_decisions": ("query", "article_id", "decision", "decided"),
}
EXPORT_ORDER = {"learn_decisions": "query, article_id"}  # the others by id
