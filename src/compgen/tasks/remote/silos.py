"""``compgen bench silos``: data that cannot be pooled. Each site holds samples of one factor only
(site A: ``bars_h``, site B: ``bars_v``); the query is their product, which no site has data of.

- **composed**: each site trains its own energy model on its own data; the models are hosted
  in Ray actors (one worker each) and their product is sampled by annealed MALA over them.
- **FedAvg conditional**: one model conditioned on a site flag (site k: one-hot e_k), trained
  by federated averaging over the sites (same data, same total gradient steps), asked for the
  product by the condition (1, ..., 1) and sampled by reverse diffusion: the monolithic answer.
- **FedAvg conditional, composed**: the same model's site conditionals multiplied,
  ``m.given(e_A) & m.given(e_B)``, by annealed MALA: composition without separate models.
- **FedAvg**: one unconditional model by federated averaging, reverse diffusion: what pooling
  without labels learns (the sites' mixture, not their product).

Metric: W2 to exact samples of the product over the noise floor, and exact log-likelihood
under its grid-normalized density, over seeds. The sites run one after the other on this
machine (2 shared cores); on a cluster they would be separate machines, the arithmetic the same.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

import compgen as cg
from compgen.algebra.compose import Product
from compgen.data.toy2d import density
from compgen.metrics import grid_density
from compgen.models.diffusion import EnergyDiffusion
from compgen.samplers import sample
from compgen.tasks.results import finish, machine, mean_std
from compgen.tasks.toy2d.data_efficiency import EVAL_N, score_samples
from compgen.tasks.toy2d.plots import sample_grid
from compgen.training import train, train_federated

SITES = {"product": ("bars_h", "bars_v"), "product_ring": ("ring", "bands")}
METHODS = ("composed", "fedavg_conditional", "fedavg_conditional_composed", "fedavg")
LABELS = {"composed": "site models, composed on Ray workers (MALA)",
          "fedavg_conditional": "FedAvg conditional, given (1, 1) (reverse)",
          "fedavg_conditional_composed": "FedAvg conditional, site conditionals composed (MALA)",
          "fedavg": "FedAvg unconditional (reverse)"}
SHORT = {"composed": "site models composed\n(Ray workers, MALA)",  # panel titles
         "fedavg_conditional": "FedAvg conditional\ngiven (1, 1)",
         "fedavg_conditional_composed": "FedAvg conditional,\nconditionals composed",
         "fedavg": "FedAvg unconditional"}
SITE_SAMPLES, BATCH = 5000, 256  # as the shipped 2D models


def run_one(task: str, seed: int, steps: int, rounds: int, ref, floor: float) -> tuple[dict, dict]:
    """One seed of one task: train all four, sample each; returns (scores, samples)."""
    import ray

    factors = SITES[task]
    gen = torch.Generator().manual_seed(seed)
    data = [density(f).sample(SITE_SAMPLES, gen) for f in factors]
    samples = {}
    # composed: a model per site, on that site's data only, evaluated on its own worker
    site_models = [train(EnergyDiffusion(dim=2, name=f, init_seed=seed), d, steps=steps, batch_size=BATCH,
                         seed=seed, progress=False) for f, d in zip(factors, data, strict=True)]
    workers = [cg.remote(m) for m in site_models]
    try:
        samples["composed"] = sample(Product(workers), EVAL_N, "mala",
                                     generator=torch.Generator().manual_seed(seed)).x
    finally:
        for w in workers:
            ray.kill(w.actor)
    # FedAvg: the same data and the same gradient steps (steps per site), in rounds
    flags = torch.eye(len(factors))
    conditional = EnergyDiffusion(dim=2, cond_dim=len(factors), name="fedavg_conditional", init_seed=seed)
    train_federated(conditional, [(d, flags[k].expand(len(d), -1)) for k, d in enumerate(data)], rounds,
                    steps // rounds, batch_size=BATCH, seed=seed, progress=False)
    samples["fedavg_conditional"] = sample(conditional.given(torch.ones(len(factors))), EVAL_N, "reverse",
                                           generator=torch.Generator().manual_seed(seed)).x
    samples["fedavg_conditional_composed"] = sample(
        Product([conditional.given(f) for f in flags]), EVAL_N, "mala",
        generator=torch.Generator().manual_seed(seed)).x
    pooled = EnergyDiffusion(dim=2, name="fedavg", init_seed=seed)
    train_federated(pooled, [(d, None) for d in data], rounds, steps // rounds, batch_size=BATCH, seed=seed,
                    progress=False)
    samples["fedavg"] = sample(pooled, EVAL_N, "reverse", generator=torch.Generator().manual_seed(seed)).x
    return {m: score_samples(x, ref, floor, seed) for m, x in samples.items()}, samples


def run_silos(out: Path, tasks: tuple[str, ...] = tuple(SITES), seeds: int = 3, steps: int = 5000,
              rounds: int = 500, progress: bool = True) -> dict:
    """Run the comparison; writes silos.{json,md,png}."""
    import ray

    unknown = set(tasks) - set(SITES)
    if unknown:
        raise ValueError(f"unknown tasks {sorted(unknown)}; choose from {sorted(SITES)}")
    if steps % rounds:
        raise ValueError(f"steps ({steps}) must be a multiple of rounds ({rounds})")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(num_cpus=max(len(SITES[t]) for t in tasks), log_to_driver=False, include_dashboard=False)
    result: dict = {"machine": machine(), "seeds": seeds, "steps_per_site": steps, "rounds": rounds,
                    "local_steps": steps // rounds, "site_samples": SITE_SAMPLES, "batch_size": BATCH,
                    "eval_samples": EVAL_N, "methods": LABELS, "tasks": {}}
    panels = []
    for task in tasks:
        expression = " & ".join(SITES[task])
        ref = grid_density(Product([density(f) for f in SITES[task]]), lo=-4.5, hi=4.5)
        floor = ref.noise_floor(EVAL_N, torch.Generator().manual_seed(7), repeats=5)
        runs = []
        for seed in tqdm(range(seeds), disable=not progress, desc=f"silos {task}"):
            scores, samples = run_one(task, seed, steps, rounds, ref, floor)
            runs.append(scores)
            if seed == 0:
                panels.append([(f"exact: {expression}", ref)] + [
                    (f"{SHORT[m]}\nW2/floor {scores[m]['w2_over_floor']:.2f}", samples[m]) for m in METHODS])
        summary = {m: {k: {"mean": statistics.fmean(r[m][k] for r in runs),
                           "std": statistics.pstdev(r[m][k] for r in runs)}
                       for k in ("w2_over_floor", "exact_ll")} for m in METHODS}
        result["tasks"][task] = {"sites": list(SITES[task]), "expression": expression, "noise_floor": floor,
                                 "expected_ll": ref.expected_log_prob(), "summary": summary, "runs": runs}
    result["seconds"] = round(time.perf_counter() - started, 1)
    finish(out, "silos", result, format_table(result), None)
    sample_grid(panels, out / "silos.png", lim=4.0)
    return result


def format_table(result: dict) -> str:
    lines = [f"each site: {result['site_samples']} samples of its factor only; {result['steps_per_site']} "
             f"gradient steps per site for every method (FedAvg: {result['rounds']} rounds of "
             f"{result['local_steps']}); {result['seeds']} seed(s), mean ± std over seeds", "",
             "| task | method | W2 / noise floor | exact LL (expected under the exact density) |",
             "|---|---|---|---|"]
    for r in result["tasks"].values():
        for m in METHODS:
            w2_, ll = (r["summary"][m][k] for k in ("w2_over_floor", "exact_ll"))
            n = result["seeds"]
            lines.append(f"| {r['expression']} | {LABELS[m]} | "
                         f"{mean_std(w2_['mean'], w2_['std'], n, '.2f')} | "
                         f"{mean_std(ll['mean'], ll['std'], n, '.2f')} ({r['expected_ll']:.2f}) |")
    return "\n".join(lines)
