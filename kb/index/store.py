"""A build on disk: its files, the checked manifest, loading it, and the ``current`` link.

A build folder holds everything search and suggestions read, computed once by ``kb build``
(:mod:`kb.index.build`); loading it reads files and checks each against the manifest's sha256, and
never analyses an article or needs the model:

========================  ===================================================================
``vectors.faiss``         FAISS inner-product index of the entries' e5 vectors (entry order)
``entries.jsonl``         the entries (questions) in vector order
``articles.json``         the typed article records, in search order (article i = row i below)
``tables.npz``            entry -> article, which entries are whole-article passages, translation pairs
``lexical/``              BM25 over Kiwi morphemes / stemmed English words (bm25s ``save``, loaded by mmap)
``chars/``                BM25 over character 2-3-grams
``suggest.json``          the type-ahead candidates (questions, titles, tags, categories), public and all
``config/synonyms.yml``   the synonyms in force when the build was made
``learned.json``          the learned questions it holds (article id -> wordings, sorted; may be empty)
``ann.faiss``             large builds only: the approximate (HNSW) index of the vectors (:mod:`kb.index.ann`)
``manifest.json``         format version, model, counts, every file above with its sha256
========================  ===================================================================
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kb.articles.parse import Article, Entry, Section
from kb.errors import IndexMismatchError, IndexMissingError, KBError
from kb.files import sha256_file
from kb.index import ann
from kb.index.lexical import LexicalIndex
from kb.index.suggestions import Suggestion
from kb.text.analysis import Synonyms

if TYPE_CHECKING:
    import numpy as np

    from kb.index.lexical import LexicalIndex
    from kb.index.suggestions import Suggestion
    from kb.text.analysis import Synonyms

# 3: the build carries the lexical indexes, tables and suggestions (2: question entries hold the mean of
# their passage and query embeddings)
FORMAT_VERSION = 3
MANIFEST = "manifest.json"
VECTORS, ENTRIES, ARTICLES, TABLES, SUGGEST = "vectors.faiss", "entries.jsonl", "articles.json", "tables.npz", \
    "suggest.json"
LEXICAL, CHARS, CONFIG, LEARNED = "lexical", "chars", "config", "learned.json"
KEEP_BUILDS = 3  # a server may still be reading the previous build while the newest is switched in
STALE_TMP_SECONDS = 3600  # half-written builds of killed runs older than this are removed
LOCK = ".build.lock"  # in the index root: one gated build at a time, whichever process runs it
FIX = "run `kb build` to rebuild the index"
T = TypeVar("T")


class BuildDamaged(IndexMismatchError):
    """A build's files do not match its manifest, are missing or cannot be read: another kept build may serve."""


@dataclass(frozen=True)
class Tables:
    """Arrays the searcher aggregates with, in entry / article order."""

    entry_article: np.ndarray  # int64 per entry: its article's row
    is_doc: np.ndarray  # bool per entry: the whole-article passage (not a question)
    translations: np.ndarray  # int64 (m, 2): (original row, translation row)


@dataclass
class LoadedIndex:
    """A build in memory: FAISS, entries, typed articles, lexical indexes, tables, suggestions, manifest."""

    faiss_index: Any
    entries: list[Entry]
    articles: dict[str, Article]  # in search order: article i is row i of the tables and lexical indexes
    tables: Tables
    lexical: LexicalIndex
    chars: LexicalIndex
    suggestions: dict[str, list[Suggestion]]  # "public" (customers) and "agents" (everything)
    synonyms: Synonyms
    manifest: dict[str, Any]
    path: Path
    load_ms: float = 0.0
    ann: ann.AnnIndex | None = None  # large builds: the approximate index (kb.index.ann)

    @property
    def model_id(self) -> str:
        return str(self.manifest["model_id"])

    @property
    def build_time(self) -> str:
        return str(self.manifest["build_time"])

    @property
    def build_id(self) -> str:
        return self.path.name

    def visible(self, audience: str) -> dict[str, Article]:
        """The articles an audience may see: customers the public ones, agents all."""
        if audience == "agents":
            return self.articles
        return {k: a for k, a in self.articles.items() if a.public}


def build_files(folder: Path) -> dict[str, str]:
    """Every file of a build folder but the manifest, by relative path, with its sha256."""
    return {p.relative_to(folder).as_posix(): sha256_file(p)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


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
        raise BuildDamaged(f"{path} is corrupt ({e}): {FIX}") from None
    except OSError as e:
        raise BuildDamaged(f"{path} cannot be read ({e.strerror or e}): {FIX}") from None
    if not isinstance(manifest, dict):
        raise BuildDamaged(f"{path} is corrupt (not a JSON object): {FIX}")
    return manifest


def resolve_build(path: Path) -> Path:
    """A build folder, or an index root's current build."""
    if (path / "current").exists() or (path / "builds").is_dir():
        if not (path / "current").exists():
            raise IndexMissingError(f"no current build in {path}: run `kb build`")
        return current_path(path)
    if not (path / MANIFEST).exists():
        raise IndexMissingError(f"no index at {path}: run `kb build` (or set --index / KB_INDEX_DIR)")
    return path


def check_manifest(build_dir: Path, manifest: dict[str, Any], *, expected_model: str | None = None,
                   expected_dimension: int | None = None) -> None:
    """Refuse a build of another format, model or dimension, or one whose files do not match."""
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {build_dir} has format version {version}, this kb reads {FORMAT_VERSION}: {FIX}")
    if expected_model is not None and manifest.get("model_id") != expected_model:
        built = str(manifest.get("model_id"))
        model, _, precision = built.partition("@")
        hint = f"KB_MODEL={model} KB_PRECISION={precision}" if precision else f"KB_MODEL={built}"
        if precision == "" and expected_model.startswith(built + "@"):
            hint = "KB_PRECISION=fp32"
        raise IndexMismatchError(
            f"index at {build_dir} was built with model {built!r} but the model setting is "
            f"{expected_model!r}: {FIX}, or set {hint}")
    if expected_dimension is not None and manifest.get("dimension") != expected_dimension:
        raise IndexMismatchError(f"index at {build_dir} has dimension {manifest.get('dimension')} but the model "
                                 f"gives {expected_dimension}: {FIX}")
    check_files(build_dir, manifest)


def check_files(build_dir: Path, manifest: dict[str, Any]) -> None:
    """Raise :class:`BuildDamaged` unless every file the manifest lists is there with its sha256."""
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BuildDamaged(f"index at {build_dir} has no file list in its manifest: {FIX}")
    missing = [name for name in files if not (build_dir / name).is_file()]
    if missing:
        raise BuildDamaged(f"index at {build_dir} is missing {', '.join(missing)}: {FIX}")
    for name, digest in files.items():
        file = build_dir / name
        try:
            same = sha256_file(file) == digest
        except OSError as e:
            raise BuildDamaged(f"index file {file} cannot be read ({e.strerror or e}): {FIX}") from None
        if not same:
            raise BuildDamaged(f"index file {file} does not match its manifest (corrupt?): {FIX}")


def verify_build(build_dir: Path) -> str | None:
    """Why a build folder's files do not match its manifest (``None`` when they all do): what a server checks when
    a search fails on its build, as the memory-mapped arrays read what is on disk now."""
    try:
        check_files(build_dir, read_manifest(build_dir))
    except (BuildDamaged, IndexMissingError) as e:
        return str(e)
    return None


def verified(build_dir: Path) -> Path:
    """``build_dir``, once its manifest and files check out (:class:`BuildDamaged` otherwise); loads nothing."""
    manifest = read_manifest(build_dir)
    check_manifest(build_dir, manifest)
    return build_dir


def load_index(path: Path, *, expected_model: str | None = None,
               expected_dimension: int | None = None) -> LoadedIndex:
    """Load a build folder or an index root (its ``current`` build), checked against its manifest."""
    import faiss
    import numpy as np

    started = time.perf_counter()
    build_dir = resolve_build(path)
    manifest = read_manifest(build_dir)
    check_manifest(build_dir, manifest, expected_model=expected_model, expected_dimension=expected_dimension)
    try:
        index = faiss.read_index(str(build_dir / VECTORS))
        entries = [Entry(**json.loads(line)) for line in
                   (build_dir / ENTRIES).read_text(encoding="utf-8").splitlines() if line]
        articles = {r["id"]: article_from_record(r)
                    for r in json.loads((build_dir / ARTICLES).read_text(encoding="utf-8"))}
        with np.load(build_dir / TABLES, allow_pickle=False) as npz:
            tables = Tables(npz["entry_article"].astype(np.int64), npz["is_doc"].astype(bool),
                            npz["translations"].astype(np.int64).reshape(-1, 2))
        n = len(articles)
        lexical = LexicalIndex.load(build_dir / LEXICAL, n)
        chars = LexicalIndex.load(build_dir / CHARS, n)
        suggestions = {audience: [Suggestion(*row) for row in rows] for audience, rows in
                       json.loads((build_dir / SUGGEST).read_text(encoding="utf-8")).items()}
        synonyms_file = build_dir / CONFIG / "synonyms.yml"
        synonyms = Synonyms.load(synonyms_file) if synonyms_file.is_file() else Synonyms()
        approximate = ann.load(build_dir, manifest, index.ntotal)
    except (RuntimeError, ValueError, TypeError, KeyError, OSError) as e:
        raise BuildDamaged(f"index at {build_dir} cannot be read ({type(e).__name__}: {e}): {FIX}") from None
    counts = manifest.get("counts", {})
    consistent = (index.ntotal == len(entries) == counts.get("entries") == len(tables.entry_article)
                  and counts.get("articles") == n and index.d == manifest.get("dimension")
                  and (not len(tables.entry_article) or int(tables.entry_article.max()) < n))
    if not consistent:
        raise BuildDamaged(
            f"index at {build_dir} is inconsistent ({index.ntotal} vectors, {len(entries)} entries, {n} articles; "
            f"manifest says {counts.get('entries')} entries, {counts.get('articles')} articles): {FIX}")
    return LoadedIndex(index, entries, articles, tables, lexical, chars, suggestions, synonyms, manifest, build_dir,
                       load_ms=(time.perf_counter() - started) * 1000, ann=approximate)


def kept_builds(index_root: Path) -> list[Path]:
    """The finished builds an index root keeps, newest first (half-written hidden ones left out)."""
    try:
        found = [p for p in (index_root / "builds").iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(found, reverse=True)  # build ids start with their UTC time


def pick_build(path: Path, load: Callable[[Path], T], *, skip: Collection[str] = ()) -> tuple[T, dict[str, str]]:
    """``load`` of the build ``path`` names (a build folder, or an index root's current build) or, when that one
    is damaged, of the newest intact build the root keeps; and the builds passed over as damaged (id -> why).

    Only damage (:class:`BuildDamaged`: files missing, unreadable or unlike the manifest) falls back: a current
    build of another format or model is refused as it is. Builds in ``skip`` (known damaged) are not tried.
    """
    link = path / "current"
    if not (link.is_symlink() or link.exists() or (path / "builds").is_dir()):
        return load(resolve_build(path)), {}  # a build folder: nothing to fall back to
    damaged: dict[str, str] = {}
    first: Path | None = None
    if link.exists():
        first = current_path(path)
    elif link.is_symlink():
        gone = Path(os.readlink(link)).name
        damaged[gone] = f"the current build {gone} of {path} is missing: {FIX}"
    unusable: list[str] = []
    candidates = ([first] if first else []) + [b for b in kept_builds(path) if b != first]
    for build in candidates:
        if build.name in skip or build.name in damaged:
            continue
        try:
            return load(build), damaged
        except (BuildDamaged, IndexMissingError) as e:  # a kept build without its manifest is damaged too
            damaged[build.name] = str(e)
        except IndexMismatchError as e:
            if build == first:
                raise  # another model or format: the settings or the kb version are wrong, not the build
            unusable.append(str(e))  # an older build of another model cannot stand in
    reasons = [*damaged.values(), *unusable]
    if not reasons and not any(b.name in skip for b in candidates):
        raise IndexMissingError(f"no current build in {path}: run `kb build`")
    first_reason = reasons[0] if reasons else f"every build it keeps is damaged: {FIX}"
    more = f" (and {len(reasons) - 1} more unusable build(s))" if len(reasons) > 1 else ""
    raise BuildDamaged(f"no intact build to serve in {path}: {first_reason}{more}")


def read_learned(path: Path) -> dict[str, tuple[str, ...]]:
    """The learned questions of a build folder or an index root's current build (article id -> wordings), e.g.
    to rebuild it exactly; empty for a build made before learning existed."""
    file = resolve_build(path) / LEARNED
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexMismatchError(f"{file} is corrupt ({e}): {FIX}") from None
    if not isinstance(data, dict) or not all(isinstance(ws, list) for ws in data.values()):
        raise IndexMismatchError(f"{file} is corrupt (not an object of lists): {FIX}")
    return {str(a): tuple(str(w) for w in ws) for a, ws in data.items()}


def article_record(a: Article) -> dict[str, Any]:
    """An article as stored in ``articles.json`` (the parser's line numbers are left out)."""
    return {"id": a.id, "title": a.title, "category": a.category, "tags": list(a.tags), "locale": a.locale,
            "questions": list(a.questions), "status": a.status, "body": a.body, "path": a.path,
            "layout": a.layout, "tests": list(a.tests), "translation_of": list(a.translation_of),
            "audience": a.audience,
            "sections": [{"question": s.question, "answer": s.answer, "line": s.line} for s in a.sections]}


def article_from_record(r: dict[str, Any]) -> Article:
    return Article(
        id=str(r["id"]), title=str(r["title"]), category=str(r["category"]), tags=tuple(r["tags"]),
        locale=str(r["locale"]), questions=tuple(r["questions"]), status=str(r["status"]), body=str(r["body"]),
        path=str(r["path"]), layout=str(r["layout"]), tests=tuple(r["tests"]),
        translation_of=tuple(r["translation_of"]), audience=str(r["audience"]),
        sections=tuple(Section(str(s["question"]), str(s["answer"]), int(s["line"])) for s in r["sections"]),
    )


def switch_current(index_root: Path, target: Path) -> None:
    """Point ``index_root/current`` at ``target`` in one rename: readers see the old build or the new one."""
    link = index_root / "current"
    tmp_link = index_root / f".current-{os.getpid()}-{time.monotonic_ns()}"
    os.symlink(os.path.relpath(target, index_root), tmp_link)
    try:
        os.replace(tmp_link, link)
    except BaseException:
        tmp_link.unlink(missing_ok=True)
        raise


def prune(builds: Path, keep: Path) -> None:
    """Remove old builds (keeping the newest few) and half-written ones left by killed runs."""
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), reverse=True)
    for old in done[KEEP_BUILDS:]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
    now = time.time()
    for tmp in builds.glob(".tmp-*"):
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass  # another build removed it meanwhile


@contextmanager
def build_lock(index_root: Path, on_wait: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold the index root's build lock (``flock``, released by the kernel if the process dies); yields
    whether another build held it first, so the caller knows the articles may have changed meanwhile.

    Two builds of one root (an editor's ``kb build`` and a one-click fix on any replica of the machine)
    would otherwise both read the articles, and the later switch could drop the other's edit.
    """
    import fcntl

    try:
        index_root.mkdir(parents=True, exist_ok=True)
        fd = os.open(index_root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise KBError(f"cannot write in the index folder {index_root}: {e.strerror or e}; "
                      "the live index is unchanged") from None
    try:
        waited = False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waited = True
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield waited
    finally:
        os.close(fd)  # closing the descriptor releases the lock
