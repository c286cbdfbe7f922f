"""``compgen bench fidelity``: every sampler on every 2D task, for analytic components and for
learned components in both parameterizations. Writes fidelity.json, fidelity.md, fidelity.png."""

from __future__ import annotations

import json
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
                           tasks: list[str] | None = None, progress: bool = True) -> dict:
    """Analytic rows are cheap and W2 / floor varies about +-0.15 between seeds at n=2000, so
    they get more repeats (``analytic_seeds``) than the learned rows (``seeds``).

    ``tasks``: run only these (default: all of ``toy2d.TASKS``). The other tasks' rows are kept
    from an existing fidelity.json of the same ``n`` and repeats, and the figure of such a partial
    run goes to fidelity_TASK[_TASK...].png, leaving fidelity.png as it was.
    """
    tasks = list(toy2d.TASKS) if tasks is None else tasks
    if unknown := set(tasks) - set(toy2d.TASKS):
        raise ValueError(f"tasks: unknown {sorted(unknown)}; choose from {sorted(toy2d.TASKS)}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    repeats = {kind: analytic_seeds if kind == "analytic" else seeds for kind in toy2d.KINDS}
    result = {"n": n, "seeds": repeats, "tasks": toy2d.TASKS, "floors": {}, "expected_ll": {},
              "machine": machine()}
    kept = [] if set(tasks) == set(toy2d.TASKS) else _kept_rows(out / "fidelity.json", tasks, result)
    named = {kind: toy2d.components(kind) for kind in toy2d.KINDS}
    refs = {t: reference(toy2d.task(t), n) for t in tasks}
    result["floors"].update({t: refs[t][1] for t in refs})
    result["expected_ll"].update({t: refs[t][0].expected_log_prob() for t in refs})
    jobs = [(t, k, s, kw) for t in tasks for k in toy2d.KINDS for s, kw in SAMPLER_ROWS + EXTRA_ROWS[k]]
    order = list(toy2d.TASKS)

    def merged(rows: list[dict]) -> list[dict]:
        return sorted(kept + rows, key=lambda r: order.index(r["task"]))  # stable: rows keep their order

    def save(rows: list[dict]) -> None:  # after every row, so an interrupted run keeps its rows
        result.update(rows=merged(rows), complete=len(rows) == len(jobs),
                      seconds=round(time.perf_counter() - start, 1))
        write_json(out / "fidelity.json", result)

    rows, panels = measure(jobs, named, refs, n, repeats, progress=progress, on_row=save)
    figure = out / ("fidelity.png" if not kept else f"fidelity_{'_'.join(tasks)}.png")
    return finish(out, "fidelity", result, format_table(merged(rows)),
                  lambda _, __: sample_grid([p for p in panels.values() if len(p) > 1], figure))


def _kept_rows(path: Path, rerun: list[str], result: dict) -> list[dict]:
    """Rows, floors and expected log-likelihoods of the tasks not rerun, from an earlier run that
    used the same sample size and repeats (copied into ``result``)."""
    if not path.exists():
        raise FileNotFoundError(f"tasks: a partial run keeps the other tasks' rows from {path}, "
                                "which does not exist; run every task first")
    earlier = json.loads(path.read_text())
    if (earlier.get("n"), earlier.get("seeds")) != (result["n"], result["seeds"]):
        raise ValueError(f"tasks: {path} was run with n={earlier.get('n')}, seeds={earlier.get('seeds')}; "
                         f"this run has n={result['n']}, seeds={result['seeds']}: rerun every task")
    keep = [t for t in earlier["floors"] if t not in rerun and t in toy2d.TASKS]
    result["floors"].update({t: earlier["floors"][t] for t in keep})
    result["expected_ll"].update({t: earlier["expected_ll"][t] for t in keep})
    result["kept_from_earlier_run"] = {"tasks": keep, "seconds": earlier.get("seconds"),
                                       "machine": earlier.get("machine")}
    return [r for r in earlier["rows"] if r["task"] in keep]
