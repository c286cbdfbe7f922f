"""``compgen bench relations``: relational potentials against constant velocity and a monolithic
predictor trained for the same wall time, then what the factorization allows at test time.

Measured on held-out simulations (scaled units, positions and velocities in about [-1, 1]):
- forecast MSE at steps 1 / 10 / 20, and the wall time of forecasting the test set; the
  relational model with its edge types inferred by its factors (the default) and with the
  encoder's types alone;
- relation recovery: each directed edge's type against its true relation, under the best
  matching of types to relations (inferred, and the encoder's most probable);
- swap: pair (i, j)'s two edge latents taken from another system B whose relation differs,
  compared with a re-simulation of A from its last observed frame with B's relation for (i, j);
- avoid: a disc to keep out of (around particle 0's true position at forecast step 10) added
  as an analytic factor on every particle's positions; points inside it, and the other
  particles' error outside it (at all their points outside, on the particles whose true and
  unconstrained trajectories never enter it, and on those of them that no chain of true
  relations joins to a particle that does);
- more particles: systems of 6-8 balls, forecast by adding edge factors (the monolithic
  predictor has a fixed input size, so it has no answer there).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from compgen.algebra.component import Component
from compgen.checkpoint import save
from compgen.tasks.particles.models import (
    MonolithicPredictor,
    RelationalPotentials,
    constant_velocity,
    scale,
)
from compgen.tasks.particles.simulate import FRAMES_OBSERVED, FRAMES_PREDICTED, simulate
from compgen.tasks.particles.training import TEST_SEED, Split, fit_forecaster, forecast, split
from compgen.tasks.results import finish, machine

STEPS = (1, 10, 20)
RELATIONAL = {"hidden": 64, "descent_steps": 100}  # about 20 training steps/s at batch 32 on one thread


def relational_model(kind: str, speed: float) -> RelationalPotentials:
    """The relational forecaster benchmarked for ``kind``: springs have a "no relation" edge type
    (force 0), charged particles none (every pair attracts or repels) and forces that see states
    only within the scaled range (unclamped, the learned wall force extrapolated for a particle
    forecast just outside the box, and 3 of 1,000 test rollouts ran away)."""
    if kind == "springs":
        return RelationalPotentials(speed=speed, none_type=True, **RELATIONAL)
    return RelationalPotentials(speed=speed, state_limit=1.0, **RELATIONAL)


BATCH = 32
AVOID_STRENGTHS = (10.0, 100.0, 1000.0)  # per unit squared depth (scaled units) per frame


def mse_at(pred: Tensor, future: Tensor) -> dict[str, float]:
    """MSE over particles and the 4 state values at forecast steps 1, 10, 20."""
    return {f"step_{s}": ((pred[:, s - 1] - future[:, s - 1]) ** 2).mean().item() for s in STEPS}


def relation_accuracy(latents: Tensor, relations: Tensor) -> float:
    """Accuracy of each directed edge's most probable type against its true relation, under the
    best matching of types to relations (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    p = relations.shape[1]
    off = ~torch.eye(p, dtype=torch.bool)
    types = latents[:, off].argmax(-1).reshape(-1)
    truth = torch.unique(relations[:, off], return_inverse=True)[1].reshape(-1)
    counts = torch.zeros(latents.shape[-1], int(truth.max()) + 1)
    counts.index_put_((types, truth), torch.ones(len(types)), accumulate=True)
    rows, cols = linear_sum_assignment(-counts.numpy())
    return float(counts[rows, cols].sum() / len(types))


class AvoidDisc(Component):
    """``strength * sum_t relu(radius - |p_t - centre|)^2`` over a (T, 4) trajectory (flattened),
    a centre per chain (the condition, (B, 2)): an analytic factor keeping a forecast out of a disc."""

    batches_conditions = True

    def __init__(self, frames: int, radius: float, strength: float):
        self.dim, self.radius, self.strength = frames * 4, radius, strength

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Tensor | None = None) -> Tensor:
        positions = x.view(len(x), -1, 4)[..., :2]
        inside = (self.radius - (positions - cond[:, None]).norm(dim=-1)).clamp(min=0)
        return self.strength * (inside ** 2).sum(1)

    def __repr__(self) -> str:
        return f"avoid_disc(r={self.radius})"


def swap_test(model: RelationalPotentials, test: Split, speed: float, kind: str, n: int = 200) -> dict:
    """Give pair (i, j) of system A the latents of a system B whose relation there differs."""
    rng = np.random.default_rng(0)
    rel = test.relations
    a_idx, b_idx, pairs = [], [], []
    while len(a_idx) < n:
        a, b = rng.integers(len(rel), size=2)
        i, j = sorted(rng.choice(rel.shape[1], 2, replace=False))
        if rel[a, i, j] != rel[b, i, j]:
            a_idx.append(a), b_idx.append(b), pairs.append((i, j))
    a_idx, b_idx = torch.tensor(a_idx), torch.tensor(b_idx)
    obs_a = test.observed[a_idx]
    with torch.no_grad():
        z_a, z_b = model.infer_latents(obs_a), model.infer_latents(test.observed[b_idx])
    swapped = z_a.clone()
    for k, (i, j) in enumerate(pairs):
        swapped[k, i, j], swapped[k, j, i] = z_b[k, i, j], z_b[k, j, i]
    pred = model.forecast(obs_a, latents=swapped)
    relations = rel[a_idx].clone().numpy()
    for k, (i, j) in enumerate(pairs):
        relations[k, i, j] = relations[k, j, i] = rel[b_idx[k], i, j]
    resim = simulate(kind, n, particles=rel.shape[1], frames=FRAMES_PREDICTED + 1, relations=relations,
                     initial=test.states[a_idx, FRAMES_OBSERVED - 1].numpy())
    truth_swapped = scale(torch.from_numpy(resim.states[:, 1:]), speed)
    truth_unswapped = test.future[a_idx]

    def err(target: Tensor) -> float:  # the two particles whose relation changed, positions
        rows = torch.arange(n)
        ij = torch.tensor(pairs)
        d = [(pred[rows, :, ij[:, c], :2] - target[rows, :, ij[:, c], :2]) ** 2 for c in (0, 1)]
        return torch.stack(d).mean().item()

    to_swapped, to_unswapped = err(truth_swapped), err(truth_unswapped)
    return {"systems": n, "mse_to_swapped_truth": to_swapped, "mse_to_unswapped_truth": to_unswapped,
            "ratio": to_swapped / to_unswapped}


def avoid_test(model: RelationalPotentials, test: Split, n: int = 200, radius: float = 0.05,
               strength: float = 100.0) -> dict:
    """A disc around particle 0's true position at step 10 (radius 0.05 scaled: a quarter of a
    length unit), kept out of by an added factor on every particle's trajectory. Particle 0 has
    to go around it; the error "elsewhere" is that of the other particles at points the truth
    has outside the disc, then of the particles that never enter it ("untouched"), then of
    those joined to no particle that enters it by any chain of true relations ("unlinked")."""
    obs, fut = test.observed[:n], test.future[:n]
    centre = fut[:, 9, 0, :2]
    disc = AvoidDisc(model.frames, radius, strength)
    plain = forecast(model, obs)
    with torch.no_grad():
        avoided = model.forecast(obs, extra=[model.trajectory_factor(obs, q, disc, centre)
                                             for q in range(obs.shape[2])])

    def inside(traj: Tensor) -> Tensor:  # (n, T, P) points within the disc
        return (traj[..., :2] - centre[:, None, None]).norm(dim=-1) < radius

    outside_truth = ~inside(fut)
    outside_truth[:, :, 0] = False
    # the particles the disc has no business with: neither their truth nor their unconstrained
    # forecast ever enters it (the others must move, and move their springs' partners)
    enters = inside(fut).any(1) | inside(plain).any(1)  # (n, P)
    enters[:, 0] = True  # particle 0 is the one sent around the disc
    untouched = (~enters)[:, None, :].expand_as(outside_truth)
    # of those, the ones no chain of true relations joins to a particle that enters the disc:
    # nothing physical carries the detour to them
    reach = (test.relations[:n] != 0).float() + torch.eye(obs.shape[2])
    for _ in range(obs.shape[2]):
        reach = (reach @ reach > 0).float()
    unlinked = untouched & ((reach @ enters.float()[..., None])[..., 0] == 0)[:, None, :]

    def err_elsewhere(pred: Tensor, where: Tensor) -> float | None:  # position error at those points
        if not where.any():
            return None
        return (((pred[..., :2] - fut[..., :2]) ** 2).sum(-1) * where).sum().item() / (2 * where.sum().item())

    result = {"systems": n, "radius": radius, "strength": strength,
              "share_inside_truth": inside(fut).float().mean().item(),
              "share_inside_unconstrained": inside(plain).float().mean().item(),
              "share_inside_avoid": inside(avoided).float().mean().item()}
    for name, where in (("", outside_truth), ("_untouched", untouched), ("_unlinked", unlinked)):
        before, after = err_elsewhere(plain, where), err_elsewhere(avoided, where)
        result |= {f"mse_elsewhere{name}_unconstrained": before, f"mse_elsewhere{name}_avoid": after,
                   f"error_ratio{name}": None if before is None else after / before}
    return result


def more_particles(model: RelationalPotentials, kind: str, speed: float, n: int = 300) -> dict:
    rows = {}
    for p in (5, 6, 7, 8):
        test, _ = split(kind, n, TEST_SEED + p, speed, particles=p)
        rows[str(p)] = {"relational": mse_at(forecast(model, test.observed), test.future)["step_20"],
                        "constant_velocity": mse_at(constant_velocity(test.observed, FRAMES_PREDICTED, speed),
                                                    test.future)["step_20"]}
    return rows


def run_relations(out: Path, kind: str = "springs", train_sims: int = 10_000, test_sims: int = 1000,
                  seconds: float = 900.0, seed: int = 0, progress: bool = True) -> dict:
    """Train both forecasters for ``seconds`` each on ``train_sims`` simulations; evaluate;
    writes relations_{kind}.{json,md,png}."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    train, speed = split(kind, train_sims, seed)
    test, _ = split(kind, test_sims, TEST_SEED, speed)
    torch.manual_seed(seed)  # the initial weights
    relational = relational_model(kind, speed)
    monolithic = MonolithicPredictor(speed=speed)
    training = {"relational": fit_forecaster(relational, train, seconds, batch_size=BATCH, seed=seed,
                                             progress=progress),
                "monolithic": fit_forecaster(monolithic, train, seconds, seed=seed, progress=progress)}

    def encoder_only(obs: Tensor) -> Tensor:  # the encoder's edge types, not refined by the factors
        with torch.no_grad():
            return torch.cat([relational.forecast(o, latents=relational.latents(o)) for o in obs.split(256)])

    forecasters = {"constant_velocity": lambda obs: constant_velocity(obs, FRAMES_PREDICTED, speed),
                   "relational": lambda obs: forecast(relational, obs),
                   "relational_encoder_only": encoder_only,
                   "monolithic": lambda obs: forecast(monolithic, obs)}
    preds, forecast_seconds = {}, {}
    for name, predict in forecasters.items():
        start = time.perf_counter()
        preds[name] = predict(test.observed)
        forecast_seconds[name] = round(time.perf_counter() - start, 2)
    with torch.no_grad():
        latents = {name: torch.cat([m(o) for o in test.observed.split(256)])
                   for name, m in (("inferred", relational.infer_latents), ("encoder", relational.latents))}
    result = {"machine": machine(), "kind": kind, "train_simulations": train_sims,
              "test_simulations": test_sims,
              "frames_observed": FRAMES_OBSERVED, "frames_predicted": FRAMES_PREDICTED, "speed_scale": speed,
              "train_seconds_each": seconds, "training": training,
              "forecast_mse": {m: mse_at(p, test.future) for m, p in preds.items()},
              "forecast_seconds": forecast_seconds,
              "relation_accuracy": relation_accuracy(latents["inferred"], test.relations),
              "relation_accuracy_encoder_only": relation_accuracy(latents["encoder"], test.relations),
              "swap": swap_test(relational, test, speed, kind),
              "avoid": [avoid_test(relational, test, strength=k) for k in AVOID_STRENGTHS],
              "more_particles_step_20": more_particles(relational, kind, speed)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    finish(out, f"relations_{kind}", result, format_table(result), None)
    save(relational, out / f"relations_{kind}.safetensors")  # the model these numbers are of
    plot(test, preds, out / f"relations_{kind}.png", kind)
    return result


def format_table(r: dict) -> str:
    lines = [f"{r['kind']}: {r['train_simulations']} training simulations, each model trained "
             f"{r['train_seconds_each']:.0f} s (relational {r['training']['relational']['steps']} steps, "
             f"monolithic {r['training']['monolithic']['steps']}); {r['test_simulations']} test simulations",
             "",
             "| forecaster | MSE step 1 | MSE step 10 | MSE step 20 | forecast seconds |",
             "|---|---|---|---|---|"]
    for m, v in r["forecast_mse"].items():
        lines.append(f"| {m} | " + " | ".join(f"{v[f'step_{s}']:.2e}" for s in STEPS)
                     + f" | {r['forecast_seconds'][m]:.2f} |")
    s, a0 = r["swap"], r["avoid"][0]
    lines += ["", f"relation recovery (edge types inferred by the factors): {r['relation_accuracy']:.3f} "
                  f"(the encoder's most probable types alone: {r['relation_accuracy_encoder_only']:.3f})",
              f"swap: MSE to swapped truth {s['mse_to_swapped_truth']:.2e}, to unswapped "
              f"{s['mse_to_unswapped_truth']:.2e} (ratio {s['ratio']:.2f})",
              f"avoid (truth {100 * a0['share_inside_truth']:.2f}% of points inside, unconstrained "
              f"forecast {100 * a0['share_inside_unconstrained']:.2f}%), by strength: " + ", ".join(
                  f"{a['strength']:g}: {100 * a['share_inside_avoid']:.2f}% inside, error elsewhere "
                  f"x{a['error_ratio']:.2f} (particles it never touches: "
                  + ("none" if a["error_ratio_untouched"] is None else f"x{a['error_ratio_untouched']:.2f}")
                  + "; of those, joined to it by no chain of relations: "
                  + ("none" if a["error_ratio_unlinked"] is None else f"x{a['error_ratio_unlinked']:.2f}")
                  + ")"
                  for a in r["avoid"]),
              "more particles, MSE at step 20 (relational / constant velocity): " + ", ".join(
                  f"{p}: {v['relational']:.2e} / {v['constant_velocity']:.2e}"
                  for p, v in r["more_particles_step_20"].items())]
    return "\n".join(lines)


def plot(test: Split, preds: dict[str, Tensor], path: Path, kind: str, systems: int = 3) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = len(preds) + 1
    fig, axes = plt.subplots(systems, cols, figsize=(3 * cols, 3 * systems), squeeze=False)
    for s in range(systems):
        for c, (name, traj) in enumerate([("truth", test.future), *preds.items()]):
            ax = axes[s, c]
            for q in range(test.observed.shape[2]):
                o = test.observed[s, :, q, :2].numpy()
                ax.plot(o[:, 0], o[:, 1], color=f"C{q}", alpha=0.3, lw=1)
                f = traj[s, :, q, :2].numpy()
                ax.plot(f[:, 0], f[:, 1], color=f"C{q}", lw=1.5)
            rel = test.relations[s].numpy()
            what = "springs" if kind == "springs" else "repel"
            pairs = int((rel > 0).sum() // 2)
            ax.set_title(name + (f"\n{pairs} of {rel.shape[0] * (rel.shape[0] - 1) // 2} pairs {what}"
                                 if c == 0 else ""), fontsize=8)
            ax.set_xticks([]), ax.set_yticks([]), ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_data_efficiency(out: Path, kind: str = "springs", sizes: tuple[int, ...] = (300, 1000, 3000, 10_000),
                        seeds: tuple[int, ...] = (0, 1, 2), seconds: float = 60.0, test_sims: int = 500,
                        progress: bool = True) -> dict:
    """Step-20 forecast MSE of both forecasters against the number of training simulations,
    each trained ``seconds`` per (size, seed); writes relations_data_{kind}.{json,md,png}."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, list[float]]] = {"relational": {}, "monolithic": {}}
    for size in sizes:
        for seed in seeds:
            train, speed = split(kind, size, seed)
            test, _ = split(kind, test_sims, TEST_SEED, speed)
            torch.manual_seed(seed)
            models = {"relational": (relational_model(kind, speed), BATCH),
                      "monolithic": (MonolithicPredictor(speed=speed), 64)}
            for name, (model, batch) in models.items():
                fit_forecaster(model, train, seconds, batch_size=batch, seed=seed, progress=progress)
                mse = mse_at(forecast(model, test.observed), test.future)["step_20"]
                rows[name].setdefault(str(size), []).append(mse)
    summary = {name: {size: {"mean": float(np.mean(v)), "std": float(np.std(v)), "runs": v}
                      for size, v in by_size.items()} for name, by_size in rows.items()}
    result = {"machine": machine(), "kind": kind, "train_seconds_each": seconds, "seeds": list(seeds),
              "test_simulations": test_sims, "mse_step_20": summary,
              "seconds": round(time.perf_counter() - started, 1)}
    lines = [f"{kind}: forecast MSE at step 20 (mean ± std over {len(seeds)} seeds), each model trained "
             f"{seconds:.0f} s per run", "",
             "| training simulations | relational | monolithic |", "|---|---|---|"]
    for size in map(str, sizes):
        cells = [f"{summary[m][size]['mean']:.2e} ± {summary[m][size]['std']:.1e}"
                 for m in ("relational", "monolithic")]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    return finish(out, f"relations_data_{kind}", result, "\n".join(lines), plot_data_efficiency)


def plot_data_efficiency(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    for name, by_size in result["mse_step_20"].items():
        sizes = [int(s) for s in by_size]
        ax.errorbar(sizes, [v["mean"] for v in by_size.values()], [v["std"] for v in by_size.values()],
                    marker="o", capsize=3, label=name)
    ax.set_xscale("log"), ax.set_yscale("log")
    ax.set_xlabel("training simulations"), ax.set_ylabel("MSE at forecast step 20")
    ax.set_title(f"{result['kind']}, {result['train_seconds_each']:.0f} s of training per run", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
