"""Composing two autoregressive models of constraint languages, sampled correctly and naively.

``balanced`` and ``motif`` (:mod:`compgen.tasks.discrete.languages`) are each learned by an
:class:`~compgen.models.autoregressive.AutoregressiveModel`. Their product should put its mass on
strings in both languages. The tempting shortcut, multiplying the two next-token conditionals
and sampling left to right (:func:`naive_product_sample`), samples a different distribution:
each model's conditional marginalizes over its own future, not the product's. MH with one
model as the proposal and the product as the target samples the product itself.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import Tensor

from compgen.models.autoregressive import AutoregressiveModel
from compgen.models.pretrained import WEIGHTS_DIR, load_pretrained
from compgen.tasks.discrete.languages import ALPHABET, LANGUAGES, sample_language
from compgen.training import train_autoregressive

MAX_LENGTH = 24
TRAIN_LENGTHS = range(4, MAX_LENGTH + 1)
# how shipped language models are trained: `compgen train --language NAME` uses these defaults
TRAIN_SAMPLES, TRAIN_STEPS, HIDDEN = 2000, 4000, 64


def train_language_model(language: str, samples: int = TRAIN_SAMPLES, steps: int = TRAIN_STEPS,
                         seed: int = 0, hidden: int = HIDDEN, progress: bool = True
                         ) -> tuple[AutoregressiveModel, float]:
    """Train a model of ``language`` on ``samples`` uniform strings of every length in
    ``TRAIN_LENGTHS``. Returns the model (at ``MAX_LENGTH``) and the training time in seconds."""
    gen = torch.Generator().manual_seed(seed)
    data = {length: sample_language(language, samples, length, gen) for length in TRAIN_LENGTHS}
    model = AutoregressiveModel(len(ALPHABET), MAX_LENGTH, max_length=MAX_LENGTH, hidden=hidden,
                                name=language, init_seed=seed)
    start = time.perf_counter()
    train_autoregressive(model, data, steps=steps, seed=seed, progress=progress)
    return model, time.perf_counter() - start


def language_models(length: int) -> dict[str, AutoregressiveModel]:
    """The shipped model of each language, at ``length``."""
    missing = [name for name in LANGUAGES if not (WEIGHTS_DIR / f"{name}.safetensors").is_file()]
    if missing:
        raise FileNotFoundError(f"no shipped language model {missing}; train with "
                                "`compgen train --language NAME` (see weights/README.md)")
    return {name: load_pretrained(name).with_length(length) for name in LANGUAGES}


@torch.no_grad()
def naive_product_sample(models: list[AutoregressiveModel], n: int,
                         generator: torch.Generator | None = None) -> Tensor:
    """(n, L) strings drawn left to right from the normalized product of the models' next-token
    conditionals: the shortcut that does NOT sample the product of the models."""
    length, k = models[0].dim, models[0].num_categories
    x = torch.zeros(n, length, dtype=torch.long)
    token, states = torch.full((n,), k), [None] * len(models)
    for t in range(length):
        logits = 0
        for i, m in enumerate(models):
            step_logits, states[i] = m.step_logits(token, t, states[i])
            logits = logits + F.log_softmax(step_logits, -1)
        token = torch.multinomial(F.softmax(logits, -1), 1, generator=generator)[:, 0]
        x[:, t] = token
    return x


@torch.no_grad()
def naive_product_log_prob(models: list[AutoregressiveModel], x: Tensor) -> Tensor:
    """Exact log-probability of (B, L) strings under :func:`naive_product_sample`; (B,)."""
    onehot = F.one_hot(x, models[0].num_categories).float()
    logits = sum(F.log_softmax(m.logits(onehot), -1) for m in models)
    return (onehot * F.log_softmax(logits, -1)).sum((-1, -2))
