"""Baselines for the arrangement task, on the same problems and checked by the same exact checker.

- :func:`penalty_optimizer`: hand-written penalties (bounding-box geometry) for every constraint,
  minimized by L-BFGS from random restarts (all restarts optimized at once: the sum of
  independent restarts' penalties separates).
- :func:`rejection_sampling`: positions drawn uniformly with each object inside the tray, kept
  if they solve the problem.

(Summed scores with plain reverse diffusion is :func:`~compgen.tasks.arrangement.factors.solve`
with ``sampler="reverse"``.)
"""

from __future__ import annotations

import torch
from torch import Tensor

from compgen.tasks.arrangement.constraints import ALIGN, AWAY, CLOSE, implicit_constraints, is_solution
from compgen.tasks.arrangement.problems import Problem

MARGIN = 1e-3  # aim slightly inside each boundary, so the exact check's inequalities hold


def _penalty(problem: Problem, poses: Tensor) -> Tensor:
    """Sum of constraint violations for (R, n, 2) poses; (R,)."""
    W, H = problem.tray
    half = torch.tensor([s.size for s in problem.shapes]) / 2  # (n, 2) bounding-box half sizes
    x, y = poses[..., 0], poses[..., 1]
    relu, m = torch.relu, MARGIN
    total = torch.zeros(poses.shape[0])
    for c in dict.fromkeys(list(problem.constraints) + implicit_constraints(len(problem.shapes))):
        if len(c.objects) == 1:
            i = c.objects[0]
            xi, yi = x[:, i], y[:, i]
            p = {  # every region type also needs the object in the tray
                "in": 0.0,
                "center-in": relu(W / 3 - xi + m) + relu(xi - 2 * W / 3 + m) + relu(H / 3 - yi + m)
                + relu(yi - 2 * H / 3 + m),
                "left-in": relu(xi - W / 3 + m), "right-in": relu(2 * W / 3 - xi + m),
                "bottom-in": relu(yi - H / 3 + m), "top-in": relu(2 * H / 3 - yi + m),
            }[c.type]
            hx, hy = half[i]
            total = total + p + relu(hx - xi + m) + relu(xi + hx - W + m) + relu(hy - yi + m) \
                + relu(yi + hy - H + m)
            continue
        a, b = c.objects
        dx, dy = x[:, a] - x[:, b], y[:, a] - y[:, b]
        dist = torch.sqrt(dx**2 + dy**2 + 1e-12)
        if c.type == "cfree":  # bounding boxes apart along at least one axis
            ox = half[a, 0] + half[b, 0] - dx.abs() + m
            oy = half[a, 1] + half[b, 1] - dy.abs() + m
            p = relu(torch.minimum(ox, oy))
        elif c.type == "left-of":
            p = relu(x[:, a] + half[a, 0] - (x[:, b] - half[b, 0]) + m)
        elif c.type == "top-of":
            p = relu(y[:, b] + half[b, 1] - (y[:, a] - half[a, 1]) + m)
        elif c.type == "close-to":
            p = relu(dist - CLOSE * min(W, H) + m)
        elif c.type == "away-from":
            p = relu(AWAY * min(W, H) - dist + m)
        elif c.type == "h-aligned":
            p = relu(dy.abs() - ALIGN * H + m)
        else:  # v-aligned
            p = relu(dx.abs() - ALIGN * W + m)
        total = total + p
    return total


def _prior(problem: Problem, k: int, generator: torch.Generator) -> Tensor:
    """(k, n, 2) positions uniform with every object's bounding box inside the tray."""
    half = torch.tensor([s.size for s in problem.shapes]) / 2
    tray = torch.tensor(problem.tray)
    u = torch.rand(k, len(problem.shapes), 2, generator=generator)
    return half + u * (tray - 2 * half).clamp(min=0)


def penalty_optimizer(problem: Problem, restarts: int = 10, iterations: int = 200, seed: int = 0
                      ) -> list[dict]:
    """Minimize the penalties from ``restarts`` random starts; results ranked by final penalty."""
    poses = _prior(problem, restarts, torch.Generator().manual_seed(seed)).requires_grad_(True)
    opt = torch.optim.LBFGS([poses], max_iter=iterations, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = _penalty(problem, poses).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        final = _penalty(problem, poses)
    out = [{"poses": [tuple(map(float, p)) for p in ps], "energy": float(e)}
           for ps, e in zip(poses.detach(), final, strict=True)]
    for r in out:
        r["solved"] = is_solution(problem.scene(r["poses"]), problem.constraints)
    return sorted(out, key=lambda r: r["energy"])


def rejection_sampling(problem: Problem, draws: int = 10, seed: int = 0) -> list[dict]:
    """``draws`` positions from the prior; each checked exactly (no ranking: the prior is flat)."""
    poses = _prior(problem, draws, torch.Generator().manual_seed(seed))
    out = []
    for ps in poses:
        p = [tuple(map(float, q)) for q in ps]
        out.append({"poses": p, "energy": 0.0, "solved": is_solution(problem.scene(p), problem.constraints)})
    return out
