"""``compgen bench fidelity``: every sampler on every 2D task, for analytic components and for
learned components in both parameterizations. Writes fidelity.json, fidelity.md, fidelity.png."""

from __future__ import annotations

import time
from pathlib import Path

from compgen.files import write_json
from compgen.tasks import toy2d
from compgen.tasks.fidelity import SAMPLER_ROWS, format_table, measure, reference
from compgen.tasks.plots import sample_grid
from compgen.tasks.results import finish, machine

# Rows that show what a default buys: SMC resampling is on by default only for exact energies.
EXTRA_ROWS = {"analytic": [("hmc", {"resample": False})], "energy": [("mala", {"resample": True})],
              "score": []}


def run_fidelity_benchmark(out: Path, n: int = 2000, seeds: int = 3, analytic_seeds: int = 8,
                           progress: bool = True) -> dict:
    """Analytic rows are cheap and W2 / floor varies about +-0.15 between seeds at n=2000, so
    they get more repeats (``analytic_seeds``) than the learned rows (``seeds``)."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    named = {kind: toy2d.components(kind) for kind in toy2d.KINDS}
    refs = {t: reference(toy2d.task(t), n) for t in toy2d.TASKS}
    jobs = [(t, k, s, kw) for t in toy2d.TASKS for k in toy2d.KINDS
            for s, kw in SAMPLER_ROWS + EXTRA_ROWS[k]]
    def save(rows: list[dict]) -> None:  # after every row, so an interrupted run keeps its rows
        result.update(rows=rows, complete=len(rows) == len(jobs),
                      seconds=round(time.perf_counter() - start, 1))
        write_json(out / "fidelity.json", result)

    repeats = {kind: analytic_seeds if kind == "analytic" else seeds for kind in toy2d.KINDS}
    result = {"n": n, "seeds": repeats, "tasks": toy2d.TASKS, "floors": {t: refs[t][1] for t in refs},
              "expected_ll": {t: refs[t][0].expected_log_prob() for t in refs},
              "machine": machine()}
    rows, panels = measure(jobs, named, refs, n, repeats, progress=progress, on_row=save)
    return finish(out, "fidelity", result, format_table(rows),
                  lambda _, path: sample_grid([p for p in panels.values() if len(p) > 1], path))
