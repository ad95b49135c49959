"""Settings: one frozen object built from arguments and ``KB_*`` environment variables.

Nothing reads the environment at import time; ``Settings.from_env`` is called by the faces (CLI, API
factory) and the result is passed in explicitly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from kb.errors import ConfigError
from kb.limits import (
    IMPORT_MAX_BYTES,
    IMPORT_MAX_CELL_CHARS,
    IMPORT_MAX_DEPTH,
    IMPORT_MAX_ROWS,
    IMPORT_MAX_XLSX_BYTES,
)

DEFAULT_MODEL = "multilingual-e5-small"
PRECISIONS = ("fp32", "int8")
LEARN_MODES = ("auto", "review", "off")  # KB_LEARN, see kb.feedback.learning


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kb"


@dataclass(frozen=True)
class Settings:
    """Everything kb needs to know to build, load and serve an index."""

    articles_dir: Path = field(default_factory=lambda: Path("articles"))
    index_dir: Path = field(default_factory=lambda: Path("index"))
    model: str = DEFAULT_MODEL
    cache_dir: Path = field(default_factory=_default_cache_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    admin_key: str | None = None
    batch_size: int = 32
    precision: str = "fp32"  # fp32 | int8: which ONNX export of the bundled model runs (KB_PRECISION)
    workers: int = 1  # `kb serve` processes
    database_url: str | None = None  # unset: SQLite beside the builds; postgresql://...: shared by replicas
    agent_key: str | None = None  # bearer key that shows `audience: agents` articles
    metrics_key: str | None = None  # when set, /metrics wants `Authorization: Bearer <key>`
    trusted_proxies: tuple[str, ...] = ()  # peers (IPs or CIDRs) whose X-Forwarded-For is believed
    # per-client rate limits (the `limits` package's syntax): as-you-type suggestions are generous, reports strict
    rate_search: str = "20/second;600/minute"
    rate_suggest: str = "40/second;1200/minute"
    rate_reports: str = "20/minute;200/day"  # POST /feedback and /unanswered
    # wrong keys (admin, agent, metrics; every replica) per client within key_window seconds, before every key
    # from that client gets 429 until the window has passed (kb.feedback.keyfails)
    key_failures: int = 10
    key_window: float = 900.0
    max_body_bytes: int = 16384  # request bodies (votes, reports) are tiny
    body_timeout: float = 10.0  # seconds to send a request body, so half-sent bodies cannot hold connections
    cors_origins: tuple[str, ...] = ()  # shop sites allowed to call the public API from the browser (the widget)
    log_days: int = 90  # days the search log is kept
    # learning from customers and agents (kb.feedback.learning): auto = pairs that pass the guards go live at
    # the next build; review = each waits for an editor's accept; off = nothing learned (nor recorded)
    learn: str = "auto"
    # what `kb import` reads at most (kb.articles.importer.bounds; the defaults and why: kb.limits)
    import_max_bytes: int = IMPORT_MAX_BYTES
    import_max_rows: int = IMPORT_MAX_ROWS
    import_max_cell_chars: int = IMPORT_MAX_CELL_CHARS
    import_max_depth: int = IMPORT_MAX_DEPTH
    import_max_xlsx_bytes: int = IMPORT_MAX_XLSX_BYTES
    # entries from which `kb build` adds an approximate (HNSW) index that large builds are searched with
    # (kb.index.ann; None: its THRESHOLD, 30,000)
    ann_threshold: int | None = None

    # environment variable -> field name
    ENV: Mapping[str, str] = field(
        default_factory=lambda: {
            "KB_ARTICLES_DIR": "articles_dir",
            "KB_INDEX_DIR": "index_dir",
            "KB_MODEL": "model",
            "KB_CACHE_DIR": "cache_dir",
            "KB_HOST": "host",
            "KB_PORT": "port",
            "KB_ADMIN_KEY": "admin_key",
            "KB_PRECISION": "precision",
            "KB_WORKERS": "workers",
            "KB_DATABASE_URL": "database_url",
            "KB_AGENT_KEY": "agent_key",
            "KB_METRICS_KEY": "metrics_key",
            "KB_TRUSTED_PROXIES": "trusted_proxies",
            "KB_RATE_SEARCH": "rate_search",
            "KB_RATE_SUGGEST": "rate_suggest",
            "KB_RATE_REPORTS": "rate_reports",
            "KB_KEY_FAILURES": "key_failures",
            "KB_KEY_WINDOW": "key_window",
            "KB_MAX_BODY_BYTES": "max_body_bytes",
            "KB_BODY_TIMEOUT": "body_timeout",
            "KB_CORS_ORIGINS": "cors_origins",
            "KB_LOG_DAYS": "log_days",
            "KB_LEARN": "learn",
            "KB_IMPORT_MAX_BYTES": "import_max_bytes",
            "KB_IMPORT_MAX_ROWS": "import_max_rows",
            "KB_IMPORT_MAX_CELL_CHARS": "import_max_cell_chars",
            "KB_IMPORT_MAX_DEPTH": "import_max_depth",
            "KB_IMPORT_MAX_XLSX_BYTES": "import_max_xlsx_bytes",
            "KB_ANN_THRESHOLD": "ann_threshold",
        },
        repr=False,
        compare=False,
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``KB_*`` variables, then explicit overrides (``None`` overrides are ignored)."""
        env = os.environ if environ is None else environ
        base = cls()
        values: dict[str, Any] = {}
        for var, name in base.ENV.items():
            raw = env.get(var)
            if raw is not None and raw != "":
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(base, **{k: _coerce(k, v) for k, v in values.items()})


def _coerce(name: str, value: Any) -> Any:
    if name in {"articles_dir", "index_dir", "cache_dir"}:
        return Path(value).expanduser()
    if name.startswith("import_max_"):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name} (KB_{name.upper()}) must be an integer, got {value!r}") from None
        if number < 1:
            raise ConfigError(f"setting {name} (KB_{name.upper()}) must be at least 1, got {number}")
        return number
    if name in {"port", "batch_size", "workers", "max_body_bytes", "log_days", "key_failures", "ann_threshold"}:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name} must be an integer, got {value!r}") from None
        if name == "port" and not 0 < number < 65536:
            raise ConfigError(f"setting port must be between 1 and 65535, got {number}")
        if name != "port" and number < 1:
            raise ConfigError(f"setting {name} must be at least 1, got {number}")
        return number
    if name == "precision":
        text = str(value).strip().lower()
        if text not in PRECISIONS:
            raise ConfigError(f"setting precision (KB_PRECISION) must be one of {', '.join(PRECISIONS)}, got {value!r}")
        return text
    if name == "learn":
        mode = str(value).strip().lower()
        if mode not in LEARN_MODES:
            raise ConfigError(f"setting learn (KB_LEARN) must be one of {', '.join(LEARN_MODES)}, got {value!r}")
        return mode
    if name in {"admin_key", "agent_key", "metrics_key", "database_url"}:
        return str(value) or None
    if name == "body_timeout":
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name} must be a number of seconds, got {value!r}") from None
        if not 0 < seconds <= 3600:
            raise ConfigError(f"setting {name} must be between 0 and 3600 seconds, got {value!r}")
        return seconds
    if name == "key_window":
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {name} (KB_KEY_WINDOW) must be a number of seconds, got {value!r}") from None
        if not 1 <= seconds <= 86400:
            raise ConfigError(f"setting {name} (KB_KEY_WINDOW) must be between 1 and 86400 seconds, got {value!r}")
        return seconds
    if name == "trusted_proxies":
        import ipaddress

        items = value.split(",") if isinstance(value, str) else list(value)
        out = tuple(str(i).strip() for i in items if str(i).strip())
        for item in out:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ConfigError(f"setting trusted_proxies: {item!r} is not an IP address or network") from None
        return out
    if name == "cors_origins":
        items = value.split(",") if isinstance(value, str) else list(value)
        origins = tuple(str(i).strip().rstrip("/") for i in items if str(i).strip())
        for origin in origins:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ConfigError(f"setting cors_origins: {origin!r} is not an origin like https://shop.example")
        return origins
    if name.startswith("rate_"):
        from limits import parse_many

        try:
            parse_many(str(value))
        except ValueError:
            raise ConfigError(f"setting {name} must be like '20/second;600/minute', got {value!r}") from None
        return str(value)
    return str(value)
