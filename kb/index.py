"""The index on disk: FAISS inner product over normalised vectors, entry metadata and a checked manifest.

Layout of an index folder (``KB_INDEX_DIR``)::

    index/
      current -> builds/20261126T151500-ab12cd   (symlink, switched atomically)
      builds/<build id>/manifest.json, vectors.faiss, entries.jsonl, articles.json
      embeddings.sqlite                          (embedding cache, keyed by model and text)

A build is written into a new folder beside the live one, validated by loading it, and then the
``current`` link is replaced in one rename: a reader never sees half an index, and a failed build
leaves the previous one serving.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb import __version__
from kb.articles import Article, Entry
from kb.errors import IndexMismatchError, IndexMissingError, KBError

if TYPE_CHECKING:
    import numpy as np

    from kb.embed import Embedder

FORMAT_VERSION = 2  # 2: question entries hold the mean of their passage and query embeddings
MANIFEST = "manifest.json"
FILES = ("vectors.faiss", "entries.jsonl", "articles.json")
KEEP_BUILDS = 3


@dataclass(frozen=True)
class BuildStats:
    """What a build did."""

    articles: int
    drafts_skipped: int
    entries: int
    embedded: int
    reused: int
    added: int
    changed: int
    removed: int
    seconds: float
    path: str


@dataclass
class LoadedIndex:
    """An index in memory: FAISS, entries in vector order, articles by id, and the manifest."""

    faiss_index: Any
    entries: list[Entry]
    articles: dict[str, dict[str, Any]]
    manifest: dict[str, Any]
    path: Path
    vectors: np.ndarray = field(repr=False)

    @property
    def model_id(self) -> str:
        return str(self.manifest["model_id"])

    @property
    def build_time(self) -> str:
        return str(self.manifest["build_time"])

    @property
    def config_dir(self) -> Path:
        """Folder of the configuration files copied into this build (e.g. ``synonyms.yml``)."""
        return self.path / "config"


class EmbeddingCache:
    """Vectors keyed by (model, passage text), so an edit re-embeds only what changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path))
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")

    @staticmethod
    def key(model_id: str, text: str) -> str:
        return hashlib.sha256(f"{model_id}\x1f{text}".encode()).hexdigest()

    def get_many(self, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        import numpy as np

        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for key, d, data in self._db.execute(f"SELECT key, dim, data FROM vec WHERE key IN ({marks})", chunk):
                if d == dim and len(data) == 4 * dim:
                    found[key] = np.frombuffer(data, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vec (key, dim, data) VALUES (?, ?, ?)",
                [(k, int(v.shape[0]), v.astype("float32").tobytes()) for k, v in items.items()],
            )

    def close(self) -> None:
        self._db.close()


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def current_path(index_root: Path) -> Path:
    """The live build folder (resolved from the ``current`` link)."""
    return (index_root / "current").resolve()


def read_manifest(build_dir: Path) -> dict[str, Any]:
    path = build_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexMissingError(f"no index at {build_dir} (missing {MANIFEST}): run `kb build`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexMismatchError(f"{path} is corrupt ({e}): run `kb build` to rebuild the index") from None
    if not isinstance(manifest, dict):
        raise IndexMismatchError(f"{path} is corrupt (not a JSON object): run `kb build` to rebuild the index")
    return manifest


def _embed_entries(
    entries: Sequence[Entry], embedder: Embedder, cache: EmbeddingCache | None,
    progress: Callable[[int], None] | None,
) -> tuple[np.ndarray, int]:
    """Vectors for the entries in order; only texts missing from the cache are embedded.

    A question entry (title, alternate question, section) gets the normalised mean of its passage and
    its query embedding: matching a customer's question to a question is a symmetric task, for which e5
    wants the ``query:`` prompt on both sides, while the ``passage:`` half keeps what works against the
    article entry, which stays a passage. Dev hit@1: paraKQC 0.922 -> 0.930, StackFAQ 0.924 -> 0.927,
    BANKING77 0.792 -> 0.800 (``query:`` alone: 0.929 / 0.914 / 0.797). Queries are embedded as before.
    """
    import numpy as np

    texts = [e.question for e in entries]
    both = [e.field != "article" for e in entries]
    # keyed apart from the plain passage vector of the same text (which older caches hold)
    keys = [EmbeddingCache.key(embedder.model_id, ("\x1equery+passage\x1f" if b else "") + t)
            for t, b in zip(texts, both, strict=True)]
    cached = cache.get_many(keys, embedder.dimension) if cache is not None else {}
    missing = list(dict.fromkeys(k for k in keys if k not in cached))
    if missing:
        text_of = dict(zip(keys, texts, strict=True))
        both_of = dict(zip(keys, both, strict=True))
        fresh = embedder.embed_passages([text_of[k] for k in missing], progress=progress)
        sym = [i for i, k in enumerate(missing) if both_of[k]]
        if sym:
            mean = fresh[sym] + embedder.embed_queries([text_of[missing[i]] for i in sym])
            fresh[sym] = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
        new = {k: fresh[i] for i, k in enumerate(missing)}
        if cache is not None:
            cache.put_many(new)
        cached.update(new)
    if progress is not None:
        progress(len(texts) - len(missing))  # the reused ones, so the bar always reaches the total
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32), 0
    return np.ascontiguousarray(np.vstack([cached[k] for k in keys]), dtype=np.float32), len(missing)


def _article_record(a: Article) -> dict[str, Any]:
    record = asdict(a)
    record["sections"] = [asdict(s) for s in a.sections]
    record.pop("line_of", None)
    return record


def build_index(
    articles: Sequence[Article],
    embedder: Embedder,
    index_root: Path,
    *,
    include_drafts: bool = False,
    config_files: Sequence[Path] = (),
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    check: Callable[[Path], None] | None = None,
) -> BuildStats:
    """Embed the articles' entries and switch ``index_root/current`` to the new build atomically.

    ``check``, if given, gets the finished build's folder before the switch; whatever it raises leaves
    the live build serving and the new one removed (``kb build --check`` runs the content tests there).
    """
    import faiss

    started = time.perf_counter()
    served = [a for a in articles if a.published or include_drafts]
    entries = [e for a in served for e in a.entries()]
    if not entries:
        raise KBError("nothing to index: every article is a draft (publish one, or build with --drafts)")
    if on_total is not None:
        on_total(len(entries))
    index_root.mkdir(parents=True, exist_ok=True)
    previous: dict[str, str] = {}
    try:
        previous = dict(read_manifest(current_path(index_root)).get("entries", {}))
    except KBError:
        pass
    cache = EmbeddingCache(index_root / "embeddings.sqlite")
    try:
        vectors, embedded = _embed_entries(entries, embedder, cache, progress)
    finally:
        cache.close()

    build_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f") + f"-{os.getpid()}"
    builds = index_root / "builds"
    builds.mkdir(exist_ok=True)
    tmp = builds / f".tmp-{build_id}"
    final = builds / build_id
    try:
        tmp.mkdir()
        index = faiss.IndexFlatIP(int(vectors.shape[1]))
        index.add(vectors)
        faiss.write_index(index, str(tmp / "vectors.faiss"))
        with (tmp / "entries.jsonl").open("w", encoding="utf-8") as f:
            for e in entries:
                f.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")
        (tmp / "articles.json").write_text(
            json.dumps([_article_record(a) for a in served], ensure_ascii=False, indent=1), encoding="utf-8"
        )
        config = {}
        if config_files:
            (tmp / "config").mkdir()
            for src in config_files:
                # e.g. articles/_synonyms.yml -> config/synonyms.yml: the build carries its own settings
                name = src.name.lstrip("_")
                shutil.copyfile(src, tmp / "config" / name)
                config[name] = _sha256_file(tmp / "config" / name)
        hashes = {e.entry_id: e.content_hash for e in entries}
        manifest = {
            "format_version": FORMAT_VERSION,
            "kb_version": __version__,
            "model_id": embedder.model_id,
            "dimension": int(vectors.shape[1]),
            "metric": "inner_product",
            "normalized": True,
            "counts": {"articles": len(served), "entries": len(entries),
                       "drafts": sum(1 for a in served if not a.published)},
            "include_drafts": include_drafts,
            "build_time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": {name: _sha256_file(tmp / name) for name in FILES},
            "config": config,
            "entries": hashes,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        load_index(tmp, expected_model=embedder.model_id, expected_dimension=embedder.dimension)  # validate
        if check is not None:
            check(tmp)
        os.rename(tmp, final)
        _switch_current(index_root, final)
    except OSError as e:  # disk full, permissions, ...: say so in one line, keep the live build
        shutil.rmtree(tmp, ignore_errors=True)
        raise KBError(f"could not write the new build in {builds}: {e.strerror or e}; "
                      "the live index is unchanged") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(builds, keep=final)
    changed = sum(1 for k, h in hashes.items() if k in previous and previous[k] != h)
    return BuildStats(
        articles=len(served), drafts_skipped=len(articles) - len(served), entries=len(entries),
        embedded=embedded, reused=len(entries) - embedded,
        added=sum(1 for k in hashes if k not in previous), changed=changed,
        removed=sum(1 for k in previous if k not in hashes), seconds=time.perf_counter() - started,
        path=str(final),
    )


def _switch_current(index_root: Path, target: Path) -> None:
    link = index_root / "current"
    tmp_link = index_root / f".current-{os.getpid()}-{time.monotonic_ns()}"
    os.symlink(os.path.relpath(target, index_root), tmp_link)
    os.replace(tmp_link, link)  # atomic on POSIX: readers see the old build or the new one


def _prune(builds: Path, keep: Path) -> None:
    """Remove old builds, keeping the newest few (a server may still be reading the previous one)."""
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    for old in done[KEEP_BUILDS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def load_index(
    path: Path, *, expected_model: str | None = None, expected_dimension: int | None = None
) -> LoadedIndex:
    """Load a build folder or an index root (its ``current`` build) and check it against the manifest."""
    import faiss
    import numpy as np

    build_dir = path
    if (path / "current").exists() or (path / "builds").is_dir():
        if not (path / "current").exists():
            raise IndexMissingError(f"no current build in {path}: run `kb build`")
        build_dir = current_path(path)
    if not (build_dir / MANIFEST).exists():
        raise IndexMissingError(f"no index at {path}: run `kb build` (or set --index / KB_INDEX_DIR)")
    manifest = read_manifest(build_dir)
    fix = "run `kb build` to rebuild the index"
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {build_dir} has format version {manifest.get('format_version')}, this kb reads "
            f"{FORMAT_VERSION}: {fix}"
        )
    if expected_model is not None and manifest.get("model_id") != expected_model:
        raise IndexMismatchError(
            f"index at {build_dir} was built with model {manifest.get('model_id')!r} but the model setting is "
            f"{expected_model!r}: {fix}, or set KB_MODEL={manifest.get('model_id')}"
        )
    if expected_dimension is not None and manifest.get("dimension") != expected_dimension:
        raise IndexMismatchError(
            f"index at {build_dir} has dimension {manifest.get('dimension')} but the model gives "
            f"{expected_dimension}: {fix}"
        )
    for name in FILES:
        file = build_dir / name
        if not file.exists():
            raise IndexMismatchError(f"index at {build_dir} is missing {name}: {fix}")
        if manifest.get("files", {}).get(name) != _sha256_file(file):
            raise IndexMismatchError(f"index file {file} does not match its manifest (corrupt?): {fix}")
    try:
        index = faiss.read_index(str(build_dir / "vectors.faiss"))
        entries = [Entry(**json.loads(line)) for line in
                   (build_dir / "entries.jsonl").read_text(encoding="utf-8").splitlines() if line]
        articles = {a["id"]: a for a in json.loads((build_dir / "articles.json").read_text(encoding="utf-8"))}
    except (RuntimeError, ValueError, TypeError, KeyError) as e:
        raise IndexMismatchError(f"index at {build_dir} cannot be read ({e}): {fix}") from None
    counts = manifest.get("counts", {})
    if index.ntotal != len(entries) or counts.get("entries") != len(entries) or index.d != manifest.get("dimension"):
        raise IndexMismatchError(
            f"index at {build_dir} is inconsistent ({index.ntotal} vectors, {len(entries)} entries, "
            f"manifest says {counts.get('entries')}): {fix}"
        )
    vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), "float32")
    return LoadedIndex(index, entries, articles, manifest, build_dir, vectors)
