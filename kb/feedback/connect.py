"""Which engine holds the feedback: PostgreSQL when the settings name a database, else SQLite beside the builds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kb.feedback.store import FILENAME, FeedbackStore

if TYPE_CHECKING:
    from kb.settings import Settings


def open_store(settings: Settings) -> FeedbackStore:
    """The store the settings name: PostgreSQL for ``KB_DATABASE_URL``, else ``feedback.sqlite`` beside the builds."""
    if settings.database_url:
        from kb.feedback.postgres import PostgresStore

        return PostgresStore(settings.database_url)
    from kb.feedback.sqlite import SQLiteStore

    return SQLiteStore(Path(settings.index_dir) / FILENAME)
