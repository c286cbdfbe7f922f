"""``compgen bench fidelity``: every sampler on every 2D task, for analytic components and for
learned components in both parameterizations. Writes fidelity.json, fidelity.md, fidelity.png."""

from __future__ import annotations

import json
import time
from pathlib import Path

from compgen.files import write_json
from compgen.tasks.results import finish, machine
from compgen.tasks.toy2d import models as toy2d
from compgen.tasks.toy2d.fidelity import SAMPLER_ROWS, format_table, measure, reference
from compgen.tasks.toy2d.plots import sample_grid

# Rows that show what a default buys: SMC resampling is on by default only for exact energies.
EXTRA_ROWS = {"analytic": [("hmc", {"resample": False})], "energy": [("mala", {"resample": True})],
              "score": []}


def run_fidelity_benchmark(out: Path, n: int = 2000, seeds: int = 3, analytic_seeds: int = 8,
                           tasks: list[str] | None = None, kinds: list[str] | None = None,
                           progress: bool = True) -> dict:
    """Analytic rows are cheap and W2 / floor varies about +-0.15 between seeds at n=2000, so
    they get more repeats (``analytic_seeds``) than the learned rows (``seeds``).

    ``tasks``, ``kinds``: run only these tasks and component kinds (default: all of
    ``toy2d.TASKS`` and ``toy2d.KINDS``). The other rows are kept
    from an existing fidelity.json of the same ``n`` and repeats, and the figure of such a partial
    run goes to fidelity_TASK[_TASK...].png, leaving fidelity.png as it was.
    """
    tasks = list(toy2d.TASKS) if tasks is None else tasks
    kinds = list(toy2d.KINDS) if kinds is None else kinds
    if unknown := set(tasks) - set(toy2d.TASKS):
        raise ValueError(f"tasks: unknown {sorted(unknown)}; choose from {sorted(toy2d.TASKS)}")
    if unknown := set(kinds) - set(toy2d.KINDS):
        raise ValueError(f"kinds: unknown {sorted(unknown)}; choose from {list(toy2d.KINDS)}")
    partial = set(tasks) != set(toy2d.TASKS) or set(kinds) != set(toy2d.KINDS)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    repeats = {kind: analytic_seeds if kind == "analytic" else seeds for kind in toy2d.KINDS}
    result = {"n": n, "seeds": repeats, "tasks": toy2d.TASKS, "floors": {}, "expected_ll": {},
              "machine": machine()}
    kept = _kept_rows(out / "fidelity.json", tasks, kinds, result) if partial else []
    named = {kind: toy2d.components(kind) for kind in kinds}
    refs = {t: reference(toy2d.task(t), n) for t in tasks}
    result["floors"].update({t: refs[t][1] for t in refs})
    result["expected_ll"].update({t: refs[t][0].expected_log_prob() for t in refs})
    jobs = [(t, k, s, kw) for t in tasks for k in kinds for s, kw in SAMPLER_ROWS + EXTRA_ROWS[k]]
    order = [(t, k) for t in toy2d.TASKS for k in toy2d.KINDS]

    def merged(rows: list[dict]) -> list[dict]:  # stable: rows keep their order within a (task, kind)
        return sorted(kept + rows, key=lambda r: order.index((r["task"], r["kind"])))

    def save(rows: list[dict]) -> None:  # after every row, so an interrupted run keeps its rows
        result.update(rows=merged(rows), complete=len(rows) == len(jobs),
                      seconds=round(time.perf_counter() - start, 1))
        write_json(out / "fidelity.json", result)

    rows, panels = measure(jobs, named, refs, n, repeats, progress=progress, on_row=save)
    parts = [*(tasks if set(tasks) != set(toy2d.TASKS) else []),
             *(kinds if set(kinds) != set(toy2d.KINDS) else [])]
    figure = out / ("fidelity.png" if not partial else f"fidelity_{'_'.join(parts)}.png")
    return finish(out, "fidelity", result, format_table(merged(rows)),
                  lambda _, __: sample_grid([p for p in panels.values() if len(p) > 1], figure))


def _kept_rows(path: Path, tasks: list[str], kinds: list[str], result: dict) -> list[dict]:
    """Rows not rerun (their task or kind is not among ``tasks`` / ``kinds``), with the floors and
    expected log-likelihoods of tasks not rerun, from an earlier run that used the same sample
    size and repeats (copied into ``result``)."""
    if not path.exists():
        raise FileNotFoundError(f"tasks: a partial run keeps the other rows from {path}, "
                                "which does not exist; run every task first")
    earlier = json.loads(path.read_text())
    if (earlier.get("n"), earlier.get("seeds")) != (result["n"], result["seeds"]):
        raise ValueError(f"tasks: {path} was run with n={earlier.get('n')}, seeds={earlier.get('seeds')}; "
                         f"this run has n={result['n']}, seeds={result['seeds']}: rerun every task")
    keep = [t for t in earlier["floors"] if t not in tasks and t in toy2d.TASKS]
    result["floors"].update({t: earlier["floors"][t] for t in keep})
    result["expected_ll"].update({t: earlier["expected_ll"][t] for t in keep})
    rows = [r for r in earlier["rows"] if r["task"] in toy2d.TASKS and
            (r["task"] not in tasks or r["kind"] not in kinds)]
    result["kept_from_earlier_run"] = {
        "tasks": keep, "rows": [[r["task"], r["kind"], r["sampler"]] for r in rows],
        "seconds": earlier.get("seconds"), "machine": earlier.get("machine")}
    return rows
