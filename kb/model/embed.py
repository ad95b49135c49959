"""Embedders: text -> L2-normalised float32 vectors, with the model's query/passage prompts."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from kb.errors import ModelError
from kb.limits import MAX_QUERY_TOKENS
from kb.model.bundled import bundled_model_path
from kb.model.export import bundled_onnx_path
from kb.model.onnx import ORT_FIX, OnnxEmbedder
from kb.model.prompts import model_prompts
from kb.model.source import BUNDLED_MODEL_NAME
from kb.settings import DEFAULT_MODEL, Settings

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[int], None]


class Embedder(Protocol):
    """What the index and the searcher need from a model."""

    model_id: str
    dimension: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU; the default comes from the bundled e5 weights."""

    def __init__(self, model: str, cache_dir: object, batch_size: int = 32) -> None:
        self.model_id = model
        self.batch_size = batch_size
        if model == BUNDLED_MODEL_NAME:
            location = str(bundled_model_path(Path(str(cache_dir))))
        else:
            location = model
        self.prompts = model_prompts(model)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:  # pragma: no cover - depends on the install
            raise ModelError("sentence-transformers is not installed: pip install sentence-transformers") from None
        try:
            self._model = SentenceTransformer(location, device="cpu")
        except Exception as e:  # noqa: BLE001 - any loader failure is reported the same way
            raise ModelError(
                f"cannot load model {model!r}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                " (set KB_MODEL to a local sentence-transformers folder, or to a model name when a model hub"
                " is reachable; the default multilingual-e5-small needs no network)"
            ) from None
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = getter()
        if not dim:
            raise ModelError(f"model {model!r} does not report an embedding dimension")
        self.dimension = int(dim)
        import torch

        self._torch = torch
        self._batch_threads = torch.get_num_threads()

    def _encode(self, texts: Sequence[str], prefix: str, progress: Progress | None, threads: int) -> np.ndarray:
        import numpy as np

        # One short query runs best on one thread: with several, every op waits for the slowest thread,
        # and when the cores are busy (concurrent requests, a build beside the server) a 20 ms query
        # was measured at ~950 ms. Batches of passages (builds) use all cores.
        if self._torch.get_num_threads() != threads:
            self._torch.set_num_threads(threads)

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Batches of similar length pad little: whole-article passages are 10x longer than questions.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._model.encode([prefix + texts[i] for i in chunk], batch_size=self.batch_size,
                                            normalize_embeddings=True, convert_to_numpy=True,
                                            show_progress_bar=False)
            if progress is not None:
                progress(len(chunk))
        return out

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries, each cut to MAX_QUERY_TOKENS tokens of the model's tokenizer (as the ONNX embedder does)."""
        prefix = self.prompts.get("query", "")
        return self._encode(self._cut(texts, prefix, MAX_QUERY_TOKENS), prefix, None,
                            1 if len(texts) <= 4 else self._batch_threads)

    def _cut(self, texts: Sequence[str], prefix: str, max_tokens: int) -> list[str]:
        """Each text cut where its ``max_tokens``-th token (prefix and special tokens included) ends.

        sentence-transformers truncates to one length for queries and passages alike; a fast tokenizer's
        offsets say where to cut a query instead. A tokenizer without offsets leaves the texts whole.
        """
        if not texts:
            return list(texts)
        try:
            encoded = self._model.tokenizer([prefix + t for t in texts], truncation=True, max_length=max_tokens,
                                            return_offsets_mapping=True)
            offsets = encoded["offset_mapping"]
        except (NotImplementedError, TypeError, ValueError, KeyError):  # a slow (Python) tokenizer
            return list(texts)
        out = []
        for text, spans in zip(texts, offsets, strict=True):
            end = max((int(e) for _, e in spans), default=0) - len(prefix)
            out.append(text[: max(end, 0)] if len(spans) >= max_tokens and end < len(text) else text)
        return out

    def embed_passages(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return self._encode(texts, self.prompts.get("passage", ""), progress, self._batch_threads)


def load_embedder(settings: Settings) -> Embedder:
    """The embedder named by the settings (``KB_MODEL``).

    The bundled multilingual-e5-small runs on ONNX Runtime in ``settings.precision`` (fp32 or int8): the
    first use converts and exports it (that once imports torch), later uses never import torch. Any other
    model name or path runs on sentence-transformers (torch), and the precision does not apply.
    """
    if settings.model == DEFAULT_MODEL:
        if importlib.util.find_spec("onnxruntime") is None:
            raise ModelError(f"the bundled model runs on ONNX Runtime, which is not installed: {ORT_FIX}")
        folder = bundled_onnx_path(Path(settings.cache_dir))
        return OnnxEmbedder(folder, settings.precision, settings.batch_size)
    return SentenceTransformerEmbedder(settings.model, settings.cache_dir, settings.batch_size)
