"""``compgen demo``: compose shipped 2D models by product, mixture and negation, sample them with
annealed HMC/MALA and with reverse diffusion, print the fidelity table, write a PNG grid."""

from __future__ import annotations

from pathlib import Path

from compgen.files import write_json
from compgen.tasks.toy2d import models as toy2d
from compgen.tasks.toy2d.fidelity import format_table, measure, reference
from compgen.tasks.toy2d.plots import sample_grid

DEMO_TASKS = ("product", "mixture", "negation")
DEMO_SAMPLERS = (("hmc", {}), ("mala", {}), ("reverse", {}))


def run_demo(out: Path, n: int = 2000, seeds: int = 1, smoke: bool = False, progress: bool = True) -> dict:
    """Run the demo; returns the results written to ``out/demo.json``."""
    out.mkdir(parents=True, exist_ok=True)
    speed = {"levels": 8} if smoke else {}
    n = 200 if smoke else n
    kinds = {kind: toy2d.components(kind) for kind in ("analytic", "energy")}
    jobs = [(t, k, s, kw) for t in DEMO_TASKS for k in kinds for s, kw in DEMO_SAMPLERS]
    refs = {t: reference(toy2d.task(t, "analytic"), n) for t in DEMO_TASKS}
    rows, by_kind = measure(jobs, kinds, refs, n, seeds, overrides=speed, progress=progress, desc="demo")
    # one figure row per task: the exact density, then every kind's samples
    panels = [by_kind[(t, "analytic")] + by_kind[(t, "energy")][1:] for t in DEMO_TASKS]
    table = format_table(rows)
    sample_grid(panels, out / "demo.png")
    result = {"n": n, "seeds": seeds, "smoke": smoke, "rows": rows, "table": table}
    write_json(out / "demo.json", result)
    return result
