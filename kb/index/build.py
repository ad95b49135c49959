"""Writing a build: embed the entries (reusing cached vectors), compute everything search reads, switch.

A build is written into a new folder beside the live one, validated by loading it (and by the caller's
``check``, e.g. the content tests), and only then does the ``current`` link move, in one rename: a reader
never sees half an index, and a failed build leaves the previous one serving.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb import __version__
from kb.articles.parse import Article, Entry
from kb.articles.render import to_text
from kb.errors import KBError
from kb.files import sha256_file
from kb.index import ann, store
from kb.index.lexical import LexicalIndex
from kb.index.suggestions import suggestion_items
from kb.text.analysis import Analyzer, Synonyms, char_ngrams

if TYPE_CHECKING:
    import numpy as np

    from kb.model.embed import Embedder
    from kb.text.analysis import Analyzer


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
    learned: int = 0  # learned questions in the build (entries with field "learned")
    notes: tuple[str, ...] = ()  # what the caller should tell the editor (e.g. built without learned questions)


class BuildCache:
    """What a build computed, keyed by its inputs, so an edit redoes only what changed: vectors by (model,
    passage text), and analysed terms by (analyser fingerprint, text): an unchanged article is never sent to
    Kiwi again, and a rebuild with every term cached does not even load it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path))
            self._db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, dim INTEGER, data BLOB)")
            self._db.execute("CREATE TABLE IF NOT EXISTS terms (key TEXT PRIMARY KEY, terms TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as e:
            raise KBError(f"cannot open the embedding cache {path}: {e}; make the index folder writable") from None

    @staticmethod
    def key(model_id: str, text: str) -> str:
        return hashlib.sha256(f"{model_id}\x1f{text}".encode()).hexdigest()

    def _select(self, table: str, columns: str, keys: Sequence[str]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows += self._db.execute(f"SELECT key, {columns} FROM {table} WHERE key IN ({marks})", chunk)
        return rows

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            with self._db:
                self._db.executemany(sql, rows)
        except sqlite3.Error as e:
            raise KBError(f"cannot write the embedding cache {self.path}: {e}") from None

    def get_many(self, keys: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        import numpy as np

        return {key: np.frombuffer(data, dtype=np.float32) for key, d, data in self._select("vec", "dim, data", keys)
                if d == dim and len(data) == 4 * dim}

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        self._write("INSERT OR REPLACE INTO vec (key, dim, data) VALUES (?, ?, ?)",
                    [(k, int(v.shape[0]), v.astype("float32").tobytes()) for k, v in items.items()])

    def terms_many(self, analyzer: Analyzer, texts: Sequence[str]) -> list[list[str]]:
        """``analyzer.terms_many(texts)``, analysing only the texts this cache has not seen with this analyser."""
        fingerprint = analyzer.fingerprint()
        keys = [self.key(fingerprint, t) for t in texts]
        known: dict[str, list[str]] = {}
        for key, data in self._select("terms", "terms", keys):
            value = json.loads(data)
            if isinstance(value, list) and all(isinstance(t, str) for t in value):
                known[key] = value
        missing = list(dict.fromkeys(k for k in keys if k not in known))
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            fresh = dict(zip(missing, analyzer.terms_many([text_of[k] for k in missing]), strict=True))
            self._write("INSERT OR REPLACE INTO terms (key, terms) VALUES (?, ?)",
                        [(k, json.dumps(v, ensure_ascii=False)) for k, v in fresh.items()])
            known.update(fresh)
        return [known[k] for k in keys]

    def close(self) -> None:
        self._db.close()


def embed_entries(
    entries: Sequence[Entry], embedder: Embedder, cache: BuildCache | None,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for the entries in order, and how many were embedded (the rest came from the cache).

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
    keys = [BuildCache.key(embedder.model_id, ("\x1equery+passage\x1f" if b else "") + t)
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


def learned_entries(article: Article, wordings: Sequence[str]) -> list[Entry]:
    """An article's entries with its learned questions (customers' wordings, :mod:`kb.feedback.learning`): each
    wording one more entry (embedded like its questions, showing its answer, in its audience; its id hashes the
    wording, so adding one never renumbers another and the manifest's added / removed counts stay true), and the
    wordings folded into the whole-article passage (:meth:`Article.entries`) and words (:func:`lexical_text`)."""
    return article.entries(wordings) + [
        Entry(f"{article.id}#learned-{hashlib.sha256(w.encode()).hexdigest()[:12]}", article.id, w, article.body,
              "learned", article.locale, article.category) for w in wordings]


def usable_learned(served: Sequence[Article], learned: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The learned set a build uses: article id -> distinct non-empty wordings, sorted, for served articles only
    (a learned question of an article that is gone is dropped, not an error)."""
    ids = {a.id for a in served}
    out = {a: sorted({w for w in ws if w and w.strip()}) for a, ws in learned.items() if a in ids}
    return {a: ws for a, ws in sorted(out.items()) if ws}


def lexical_text(article: Article, wordings: Sequence[str] = ()) -> str:
    """Title, questions, learned wordings, tags and answer of an article: what lexical matching sees.

    Learned wordings are folded into the article's words and passage, not only added as entries: as entries alone
    they reached about half of the gain on the shared dev sets (``scripts/bench_learning.py``, docs/figures.md)."""

    parts = [article.title, *article.questions, *wordings, *article.tags, to_text(article.body)]
    return "\n".join(p for p in parts if p)


def _write_build(folder: Path, served: Sequence[Article], entries: Sequence[Entry], vectors: np.ndarray,
                 doc_terms: Sequence[Sequence[str]], config_files: Sequence[Path],
                 learned: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Write every file of a build into ``folder`` (``doc_terms``: each served article's analysed
    :func:`lexical_text`); return the configuration files copied, with hashes."""
    import faiss
    import numpy as np

    index = faiss.IndexFlatIP(int(vectors.shape[1]))
    index.add(vectors)
    faiss.write_index(index, str(folder / store.VECTORS))
    with (folder / store.ENTRIES).open("w", encoding="utf-8") as f:
        for e in entries:
            f.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")
    (folder / store.ARTICLES).write_text(
        json.dumps([store.article_record(a) for a in served], ensure_ascii=False, indent=1), encoding="utf-8")
    row = {a.id: i for i, a in enumerate(served)}
    translations = [(row[src], row[a.id]) for a in served for src in a.translation_of if src in row]
    np.savez(folder / store.TABLES,
             entry_article=np.array([row[e.article_id] for e in entries], dtype=np.int64),
             is_doc=np.array([e.field == "article" for e in entries], dtype=bool),
             translations=np.array(translations, dtype=np.int64).reshape(-1, 2))
    (folder / store.LEARNED).write_text(json.dumps({a: list(ws) for a, ws in learned.items()}, ensure_ascii=False,
                                                   indent=1, sort_keys=True), encoding="utf-8")
    texts = [lexical_text(a, learned.get(a.id, ())) for a in served]
    LexicalIndex.from_terms(doc_terms).save(folder / store.LEXICAL)
    LexicalIndex.from_terms([char_ngrams(t) for t in texts]).save(folder / store.CHARS)
    public = [a for a in served if a.public]
    audiences = {"public": suggestion_items([e for a in public for e in a.entries()], public),
                 "agents": suggestion_items(entries, served)}
    (folder / store.SUGGEST).write_text(json.dumps(
        {k: [[s.text, s.article_id, s.category, s.kind] for s in items] for k, items in audiences.items()},
        ensure_ascii=False), encoding="utf-8")
    config: dict[str, str] = {}
    if config_files:
        (folder / store.CONFIG).mkdir()
        for src in config_files:
            # e.g. articles/_synonyms.yml -> config/synonyms.yml: the build carries its own settings
            name = src.name.lstrip("_")
            shutil.copyfile(src, folder / store.CONFIG / name)
            config[name] = sha256_file(folder / store.CONFIG / name)
    return config


def _discard(index_root: Path, *folders: Path) -> None:
    """Remove a failed build's folders, half-written or finished, unless ``current`` points at one: a build
    renamed into place whose switch then failed would otherwise stay behind as an orphan among the kept builds
    (and, being the newest, be taken for a fallback)."""
    link = index_root / "current"
    live = store.current_path(index_root) if link.exists() else None
    for folder in folders:
        if folder.exists() and folder.resolve() != live:
            shutil.rmtree(folder, ignore_errors=True)


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
    learned: Mapping[str, Sequence[str]] | None = None,
    ann_threshold: int | None = None,
) -> BuildStats:
    """Embed the articles' entries, write a complete build and switch ``index_root/current`` to it.

    ``check``, if given, gets the finished build's folder before the switch; whatever it raises leaves
    the live build serving and the new one removed (``kb build --check`` runs the content tests there).
    ``learned`` (article id -> wordings, :func:`kb.feedback.learning.live_questions`) adds learned questions as
    entries of their articles; the build keeps the set in ``learned.json`` (with the articles, all a build is
    made from) and the manifest counts it. From ``ann_threshold`` entries (None: :data:`kb.index.ann.THRESHOLD`)
    the build also gets an approximate index (:mod:`kb.index.ann`).
    """

    started = time.perf_counter()
    served = [a for a in articles if a.published or include_drafts]
    taught = usable_learned(served, learned or {})
    entries = [e for a in served for e in learned_entries(a, taught.get(a.id, ()))]
    if not entries:
        raise KBError("nothing to index: every article is a draft (publish one, or build with --drafts)")
    synonyms = next((Synonyms.load(p) for p in config_files if p.name.lstrip("_") == "synonyms.yml"), Synonyms())
    if on_total is not None:
        on_total(len(entries))
    try:
        index_root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise KBError(f"cannot create the index folder {index_root}: {e.strerror or e}") from None
    previous: dict[str, str] = {}
    try:
        previous = dict(store.read_manifest(store.current_path(index_root)).get("entries", {}))
    except KBError:
        pass
    cache = BuildCache(index_root / "embeddings.sqlite")
    try:
        vectors, embedded = embed_entries(entries, embedder, cache, progress)
        doc_terms = cache.terms_many(Analyzer(synonyms), [lexical_text(a, taught.get(a.id, ())) for a in served])
    finally:
        cache.close()

    build_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f") + f"-{os.getpid()}"
    builds = index_root / "builds"
    tmp = builds / f".tmp-{build_id}"
    final = builds / build_id
    try:
        builds.mkdir(exist_ok=True)
        tmp.mkdir()
        config = _write_build(tmp, served, entries, vectors, doc_terms, config_files, taught)
        approximate = ann.plan(len(entries), ann_threshold)
        if approximate is not None:
            ann.write(tmp, vectors, approximate)
        hashes = {e.entry_id: e.content_hash for e in entries}
        manifest = {
            "format_version": store.FORMAT_VERSION,
            "kb_version": __version__,
            "model_id": embedder.model_id,
            "dimension": int(vectors.shape[1]),
            "metric": "inner_product",
            "normalized": True,
            "ann": approximate.record() if approximate is not None else None,
            "counts": {"articles": len(served), "entries": len(entries),
                       "drafts": sum(1 for a in served if not a.published),
                       "learned": sum(len(ws) for ws in taught.values())},
            "include_drafts": include_drafts,
            "build_time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": store.build_files(tmp),
            "config": config,
            "entries": hashes,
        }
        (tmp / store.MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        store.load_index(tmp, expected_model=embedder.model_id, expected_dimension=embedder.dimension)  # validate
        if check is not None:
            check(tmp)
        os.rename(tmp, final)
        store.switch_current(index_root, final)
    except OSError as e:  # disk full, permissions, ...: say so in one line, keep the live build
        _discard(index_root, tmp, final)
        raise KBError(f"could not write the new build in {builds}: {e.strerror or e}; "
                      "the live index is unchanged") from e
    except BaseException:
        _discard(index_root, tmp, final)
        raise
    store.prune(builds, keep=final)
    changed = sum(1 for k, h in hashes.items() if k in previous and previous[k] != h)
    return BuildStats(
        articles=len(served), drafts_skipped=len(articles) - len(served), entries=len(entries),
        embedded=embedded, reused=len(entries) - embedded,
        added=sum(1 for k in hashes if k not in previous), changed=changed,
        removed=sum(1 for k in previous if k not in hashes), seconds=time.perf_counter() - started,
        path=str(final), learned=sum(len(ws) for ws in taught.values()),
    )
