"""Which engine holds the feedback: PostgreSQL when the settings name a database, else SQLite beside the builds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kb.feedback.engine import Engine
from kb.feedback.sqlite import SQLiteEngine
from kb.feedback.store import FILENAME, FeedbackStore

if TYPE_CHECKING:
    from kb.settings import Settings


def store_exists(settings: Settings) -> bool:
    """Whether there is a store to read: a database is named, or something is at the SQLite file's path (a file,
    or whatever is in its way, which opening then reports). Reading a store that is not there would create it."""
    return bool(settings.database_url) or (Path(settings.index_dir) / FILENAME).exists()


def open_engine(settings: Settings) -> Engine:
    """The engine the settings name: PostgreSQL for ``KB_DATABASE_URL``, else ``feedback.sqlite`` beside the builds.

    PostgreSQL's driver is imported only when a database is named (an optional dependency)."""
    if settings.database_url:
        from kb.feedback.postgres import PostgresEngine

        return PostgresEngine(settings.database_url)
    return SQLiteEngine(Path(settings.index_dir) / FILENAME)


def open_store(settings: Settings) -> FeedbackStore:
    """The votes, reports and search log on the engine the settings name."""
    return FeedbackStore(open_engine(settings))
