"""``compgen bench fidelity``: every sampler on every 2D task, for analytic components and for
learned components in both parameterizations. Writes fidelity.json, fidelity.md, fidelity.png."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from compgen.algebra.component import EnergyRequiredError
from compgen.tasks import toy2d
from compgen.tasks.fidelity import SAMPLER_ROWS, evaluate, format_table, reference, row_label
from compgen.tasks.plots import sample_grid

# Rows that show what a default buys: SMC resampling is on by default only for exact energies.
EXTRA_ROWS = {"analytic": [("hmc", {"resample": False})], "energy": [("mala", {"resample": True})],
              "score": []}


def run_fidelity_benchmark(out: Path, n: int = 2000, seeds: int = 3, progress: bool = True) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    named = {kind: toy2d.components(kind) for kind in toy2d.KINDS}
    refs = {t: reference(toy2d.task(t), n) for t in toy2d.TASKS}
    jobs = [(t, k, s, kw) for t in toy2d.TASKS for k in toy2d.KINDS
            for s, kw in SAMPLER_ROWS + EXTRA_ROWS[k]]
    rows, panels = [], {}
    for task, kind, sampler, settings in tqdm(jobs, disable=not progress, desc="fidelity"):
        ref, floor = refs[task]
        label = row_label(sampler, settings)
        try:
            composition = toy2d.parse_task(task, named[kind])
        except EnergyRequiredError as err:  # e.g. a mixture of score-only models
            metrics, x = {"error": str(err)}, None
        else:
            metrics, x = evaluate(composition, ref, floor, sampler, settings, n, seeds)
        rows.append({"task": task, "kind": kind, "sampler": label, "metrics": metrics})
        row = panels.setdefault((task, kind), [(f"{task} exact", ref)])
        if x is not None:
            row.append((f"{kind} {label}\nW2/floor {metrics['w2_over_floor']:.2f}", x))
        result = {  # written after every row, so an interrupted run keeps what it measured
            "n": n, "seeds": seeds, "tasks": toy2d.TASKS, "floors": {t: refs[t][1] for t in refs},
            "expected_ll": {t: refs[t][0].expected_log_prob() for t in refs}, "rows": rows,
            "complete": len(rows) == len(jobs), "seconds": round(time.perf_counter() - start, 1),
            "machine": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                        "python": platform.python_version()},
        }
        (out / "fidelity.json").write_text(json.dumps(result, indent=1))
    result["table"] = format_table(rows)
    (out / "fidelity.json").write_text(json.dumps(result, indent=1))
    (out / "fidelity.md").write_text(result["table"] + "\n")
    sample_grid([p for p in panels.values() if len(p) > 1], out / "fidelity.png")
    return result
