"""One peak-memory measurement of the speed suite, run in its own process:
``python -m compgen.tasks.speed.memory CHAINS SENTENCES CHUNK_SIZE`` prints JSON."""

from __future__ import annotations

import json
import sys

import torch

import compgen as cg
from compgen.models.pretrained import load_pretrained
from compgen.tasks.images.models import encode
from compgen.tasks.speed.timing import peak_memory_mb, reset_peak_memory

SENTENCES = ("a red circle at the top left", "a blue square at the bottom right",
             "a green triangle in the center", "a red square at the top right")


def main(chains: int, sentences: int, chunk_size: int) -> dict:
    torch.set_num_threads(1)
    model = load_pretrained("scenes_sentences")
    composition = cg.algebra.guided(model, encode(list(SENTENCES[:sentences])), 3.0)
    reset_peak_memory()
    before = peak_memory_mb()
    cg.sample(composition, chains, "ula", levels=2, steps=1, adapt=False, reverse_step=True,
              generator=torch.Generator().manual_seed(0), chunk_size=chunk_size or None)
    return {"peak_mb": peak_memory_mb() - before, "process_peak_mb": peak_memory_mb()}


if __name__ == "__main__":
    print(json.dumps(main(*(int(a) for a in sys.argv[1:4]))))
