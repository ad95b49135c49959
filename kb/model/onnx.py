"""The bundled multilingual-e5-small on ONNX Runtime: the export folder, and a torch-free embedder.

The export (made once by :mod:`kb.model.export`) lives in ``<cache_dir>/models/multilingual-e5-small-<sha12>-onnx/``:
``model.onnx`` (float32, equal to the torch model), ``model_int8.onnx`` (int8 matrix multiplications, dynamically
quantised: faster, vectors differ slightly), each with its weights in a ``.data`` file beside it, ``tokenizer.json``,
and a marker with each file's size and sha256. In both, the word-embedding table is stored as int8 blocks that give
its float32 values back exactly (:mod:`kb.model.shrink`): 194 and 131 MB in place of 470 and 407.
:class:`OnnxEmbedder` runs it on ``onnxruntime`` and ``marisa-trie`` alone (:mod:`kb.model.tokenizer` gives
tokenizer.json's ids in 6 MiB of RSS, where ``tokenizers`` took 281).

Importing this module is cheap: numpy, onnxruntime and marisa_trie are imported where used.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import ModelError
from kb.limits import MAX_QUERY_TOKENS
from kb.model.bundled import bundled_model_dir
from kb.model.source import BUNDLED_MODEL_NAME, BUNDLED_SHA256
from kb.model.tokenizer import MAX_LENGTH
from kb.model.tokenizer_json import TRIE_FILE, load_tokenizer

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime

EXPORT_MARKER = "kb-onnx-complete.json"
MODEL_FILES: dict[str, str] = {"fp32": "model.onnx", "int8": "model_int8.onnx"}
TOKENIZER_FILE = "tokenizer.json"
# The weights sit beside each graph as "<file>.data": ONNX Runtime memory-maps such external data, so the
# word-embedding table costs resident memory only for the pages that queries touch (fp32 server RSS measured
# 845 MB with the weights inside the .onnx file, 460 MB with them outside). With the file in the page cache the
# kernel maps up to 64 KB around each touched row, so the table's size still counts: one fp32 session after
# 200 queries, RSS 370 MB with the float32 table (384 MB), 244 MB with the int8 one (96 MB + 12 MB of scales).
EXPORT_FILES = (*(f for name in MODEL_FILES.values() for f in (name, name + ".data")), TOKENIZER_FILE)
# Bump when the exported files change, so older exports are redone.
EXPORT_VERSION = 3
# Padded tokens per batch at most: 8 passages of 512 tokens (attention scores 8x12x512x512 floats, 100 MB);
# batches of short questions stay at the batch size.
BATCH_TOKENS = 4096
ORT_FIX = "pip install 'onnxruntime>=1.20,<2'"

Progress = Callable[[int], None]


# ----------------------------------------------------------------------------- the export on disk


def bundled_onnx_dir(cache_dir: Path) -> Path:
    """Where the ONNX export of the bundled model lives (it may not exist yet)."""
    st_folder = bundled_model_dir(cache_dir)
    return st_folder.with_name(st_folder.name + "-onnx")


def export_problem(folder: Path) -> str | None:
    """Why folder is not a complete export by this exporter version, or None if it is.

    Cheap (reads the marker and stats the files); sha256 sums are computed at export time only.
    """
    try:
        marker = json.loads((folder / EXPORT_MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no {EXPORT_MARKER}"
    except (OSError, ValueError) as exc:
        return f"unreadable {EXPORT_MARKER} ({exc})"
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict):
        return f"malformed {EXPORT_MARKER}"
    if marker.get("export_version") != EXPORT_VERSION or marker.get("source_sha256") != BUNDLED_SHA256:
        return "exported by another kb version or from another model file"
    for name in EXPORT_FILES:
        entry = marker["files"].get(name)
        want = entry.get("size") if isinstance(entry, dict) else None
        try:
            size = (folder / name).stat().st_size
        except OSError:
            return f"{name} is missing"
        if size != want:
            return f"{name} has {size} bytes, the marker says {want}"
    return None


def is_export_complete(folder: Path) -> bool:
    """True if folder holds a finished export (marker present, every file of the recorded size)."""
    return export_problem(folder) is None


def prepare_tokenizer(folder: Path) -> Path:
    """Write the export's derived tokenizer file now (``kb model`` does, at install), so that servers and tests
    only read the cache; return its path."""
    marker = json.loads((folder / EXPORT_MARKER).read_text(encoding="utf-8"))
    load_tokenizer(folder / TOKENIZER_FILE, int(marker["pad_id"]))
    return folder / TRIE_FILE


# ----------------------------------------------------------------------------- the embedder


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token states under the attention mask, L2-normalised (sentence-transformers' e5 pipeline)."""
    import numpy as np

    weights = mask[:, :, None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(pooled / norms, dtype=np.float32)


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # the cores this process may use (containers, taskset)
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def plan_batches(texts: Sequence[str], batch_size: int, token_budget: int,
                 max_length: int = MAX_LENGTH) -> list[list[int]]:
    """Indices of texts in batches of similar length, each of at most batch_size texts and token_budget tokens
    (a text is cut to max_length tokens).

    Similar lengths pad little (whole-article passages are 10x longer than questions). Characters bound a
    text's token count here (every piece covers at least one character), so the budget holds for padded
    batches; it keeps a batch of long passages from allocating gigabytes of attention scores.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = min(len(texts[i]) + 2, max_length)  # + <s> and </s>; sorted, so the newest text is the widest
        if current and (len(current) == batch_size or (len(current) + 1) * width > token_budget):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class OnnxEmbedder:
    """The bundled e5 on ONNX Runtime: same protocol as :class:`kb.model.embed.SentenceTransformerEmbedder`.

    Loads only the file of the chosen precision. A call that fits one batch (a search) runs on a session with
    ``threads`` intra-op threads; a bigger call (a build) splits its batches over ``concurrency`` threads on a
    second session of ``threads // concurrency`` threads each, made at the first such call. Across all
    callers at most ``concurrency`` runs are inside the model at once; the others wait on a semaphore.

    A query is read up to ``query_tokens`` tokens (passages up to 512): the model's time grows with the tokens
    (fp32, 2 cores: a 10-token question ~9 ms, a 512-character Hangul query ~100 ms; see kb.limits).
    """

    def __init__(
        self,
        folder: Path,
        precision: str = "fp32",
        batch_size: int = 32,
        *,
        threads: int | None = None,
        concurrency: int | None = None,
        query_tokens: int = MAX_QUERY_TOKENS,
    ) -> None:
        if precision not in MODEL_FILES:
            raise ModelError(f"precision must be one of {', '.join(MODEL_FILES)}, got {precision!r}")
        folder = Path(folder)
        problem = export_problem(folder)
        if problem is not None:
            raise ModelError(
                f"the ONNX export in {folder} is incomplete or damaged ({problem}): delete that folder and "
                "run `kb build` again to re-export it"
            )
        marker = json.loads((folder / EXPORT_MARKER).read_text(encoding="utf-8"))
        try:
            import onnxruntime  # noqa: F401 - fail here, with the fix, rather than at the first query
        except ImportError:
            raise ModelError(f"the bundled model runs on ONNX Runtime, which is not installed: {ORT_FIX}") from None
        self.model_id = BUNDLED_MODEL_NAME if precision == "fp32" else f"{BUNDLED_MODEL_NAME}@{precision}"
        self.dimension = int(marker["dimension"])
        self.precision = precision
        self.batch_size = batch_size
        self.query_tokens = max(3, min(query_tokens, MAX_LENGTH))  # <s>, one token, </s>
        self.prompts: dict[str, str] = dict(marker["prompts"])
        # Defaults: one thread per run and one run per core. Two threads do not make one short query faster (fp32,
        # 2-core EPYC: 15.8 vs 16.0 ms for the session), and a server's concurrent queries each get a core instead of
        # two runs of two threads sharing two cores; a build's batches go fastest as single-threaded runs side by side
        # (112 texts/s; one two-threaded run at a time 93). Measured with scripts/bench_onnx.py and bench_serving.py.
        cores = _cpu_count()
        self.threads = threads or 1
        self.concurrency = concurrency or cores
        self._path = folder / MODEL_FILES[precision]
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._tokenizer = load_tokenizer(folder / TOKENIZER_FILE, int(marker["pad_id"]))
        self._session = self._new_session(self.threads)
        self._bulk_threads = max(1, self.threads // self.concurrency)
        self._bulk: onnxruntime.InferenceSession | None = None
        self._bulk_lock = threading.Lock()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed user queries (``query: `` prefix), each cut to ``query_tokens`` tokens."""
        return self._embed(texts, self.prompts.get("query", ""), None, self.query_tokens)

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed FAQ questions/passages (``passage: `` prefix); progress gets the count of each finished batch."""
        return self._embed(texts, self.prompts.get("passage", ""), progress, MAX_LENGTH)

    def _embed(self, texts: Sequence[str], prefix: str, progress: Progress | None, max_length: int) -> np.ndarray:
        import numpy as np

        prefixed = [prefix + text for text in texts]
        out = np.zeros((len(prefixed), self.dimension), dtype=np.float32)
        if not prefixed:
            return out
        batches = plan_batches(prefixed, self.batch_size, BATCH_TOKENS, max_length)
        split = len(batches) > 1 and self.concurrency > 1
        session = self._bulk_session() if split else self._session

        def run(batch: list[int]) -> list[int]:
            out[batch] = self._run(session, [prefixed[i] for i in batch], max_length)
            return batch

        if not split:
            done: Iterator[list[int]] = map(run, batches)
            for batch in done:
                if progress is not None:
                    progress(len(batch))
        else:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="kb-embed") as pool:
                for batch in pool.map(run, batches):
                    if progress is not None:
                        progress(len(batch))
        return out

    def _run(self, session: onnxruntime.InferenceSession, texts: list[str], max_length: int) -> np.ndarray:
        ids, mask = self._tokenizer.encode(texts, max_length)
        with self._slots:
            hidden = session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
        return mean_pool(hidden, mask)

    def _bulk_session(self) -> onnxruntime.InferenceSession:
        """The session for split batches; the main one when it has no more threads than a split run would get."""
        if self._bulk_threads >= self.threads:
            return self._session
        with self._bulk_lock:
            if self._bulk is None:
                self._bulk = self._new_session(self._bulk_threads)
            return self._bulk

    def _new_session(self, threads: int) -> onnxruntime.InferenceSession:
        import onnxruntime as ort

        try:
            return ort.InferenceSession(str(self._path), _session_options(ort, threads),
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types for a bad file
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ModelError(
                f"ONNX Runtime cannot load {self._path}: {type(exc).__name__}: {first} "
                f"(delete {self._path.parent} and run `kb build` again to re-export it)"
            ) from None


def _session_options(ort: Any, threads: int) -> onnxruntime.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # one BERT chain: nothing to run in parallel
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = threads
    # Idle pool threads sleep instead of spinning: spinning threads steal the cores from whatever has work.
    # Beside another busy process (fp32, 2 threads, 2 runs at once, same run): one query p50 30 ms with
    # spinning, 19 ms without; 8 concurrent clients p95 950 ms with, 194 ms without.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
