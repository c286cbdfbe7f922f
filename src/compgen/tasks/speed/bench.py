"""``compgen bench speed``: how fast compgen samples, and where the time goes.

Sections (each a list of rows in the JSON):

- ``analytic``: chain-steps per second of ULA / MALA / HMC on analytic Gaussian-mixture
  products (2D: an 8-Gaussian ring times a 5-Gaussian column; 16 and 64 D: two random
  8-component mixtures), for compgen's kernel loop at a fixed level (eager and compiled),
  compgen's annealed driver (eager and compiled), the same kernels written by hand in eager
  PyTorch, and blackjax (MALA, HMC). Each measurement is repeated and the median kept; the
  variants of one row run back to back in each repeat, so their ratios share the machine's noise.
- ``overhead``: the share of a sampling run's wall time spent outside the model evaluations, for
  the learned 2D energy product, the image U-Net sentence composition and GWG on an RBM.
- ``factors``: one evaluation of K = 1, 2, 4 factors of one shared network at batch 64, batched
  into one forward pass (compgen's default) against one call per factor.
- ``memory``: peak resident memory of sampling the image composition against chains and factors,
  and with ``chunk_size``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm.auto import tqdm

import compgen as cg
from compgen.allocator import keep_freed_memory
from compgen.models.gaussian_mixture import GaussianMixture
from compgen.samplers import Target, draw_noise, hmc_step, langevin_step
from compgen.tasks.results import finish, machine
from compgen.tasks.speed import peers
from compgen.tasks.speed.memory import SENTENCES
from compgen.tasks.speed.timing import Timed, seconds_per_call

KERNELS = ("ula", "mala", "hmc")
VARIANTS = ("compgen kernel", "compgen kernel, compiled", "compgen annealed", "compgen annealed, compiled",
            "hand-written eager", "blackjax")
STEP_SIZE = {"ula": 0.01, "mala": 0.01, "hmc": 0.1}
LEAPFROG = 3
STEPS = {2: 1000, 16: 150, 64: 40}  # kernel steps per run: a few seconds each at 2,000 chains
LEVEL_STEPS = 10  # the annealed driver's steps per level (levels = steps / 10)


def gmm_product(dim: int, seed: int = 0) -> list[GaussianMixture]:
    """The factors of the analytic product: the issue's ring x column in 2D, else two random
    8-component mixtures (means N(0, I), std 0.5)."""
    if dim == 2:
        column = torch.stack([torch.zeros(5), torch.linspace(-2, 2, 5)], 1)
        return [cg.data.toy2d.ring(), GaussianMixture(column, 0.3, name="column")]
    g = torch.Generator().manual_seed(seed)
    return [GaussianMixture(torch.randn(8, dim, generator=g), 0.5, name=f"gmm{i}") for i in range(2)]


def _compgen_kernel_rate(kernel: str, component, x: torch.Tensor, steps: int, seed: int,
                         compile: bool) -> peers.Rate:
    """compgen's own kernel in a plain loop over a Target at t = 0 (what blackjax's loop does)."""
    step = _hmc if kernel == "hmc" else _langevin
    run = torch.compile(step, dynamic=False) if compile else step
    g, target = torch.Generator().manual_seed(seed), Target(component, torch.tensor(0.0))
    state, momentum, step_size = target.evaluate(x), torch.zeros_like(x), torch.tensor(STEP_SIZE[kernel])
    warm = time.perf_counter()
    if compile:  # compile outside the timed loop
        run(target, state, momentum, step_size, draw_noise(x, g, kernel != "ula"))
    compile_seconds = time.perf_counter() - warm
    start = time.perf_counter()
    for _ in range(steps):
        state, momentum, _ = run(target, state, momentum, step_size, draw_noise(state.x, g, kernel != "ula"))
    return x.shape[0] * steps / (time.perf_counter() - start), compile_seconds


def _hmc(target, state, momentum, step_size, noise):
    return hmc_step(target, state, momentum, step_size, LEAPFROG, noise)


def _langevin(target, state, momentum, step_size, noise):
    new, info = langevin_step(target, state, step_size, noise)
    return new, momentum, info


def _compgen_driver_rate(kernel: str, component, x: torch.Tensor, steps: int, seed: int,
                         compile: bool) -> peers.Rate:
    """The annealed driver (``cg.sample``): levels of LEVEL_STEPS adapted steps, MCMC only
    (``resample=False``), so the rate counts kernel steps plus the driver's per-level work."""
    settings = {"levels": max(1, steps // LEVEL_STEPS), "steps": LEVEL_STEPS, "resample": False,
                "compile": compile}
    if kernel == "hmc":
        settings["leapfrog"] = LEAPFROG
    warm = time.perf_counter()
    if compile:
        cg.sample(component, x.shape[0], kernel, x_init=x, **{**settings, "levels": 1})
    compile_seconds = time.perf_counter() - warm
    result = cg.sample(component, x.shape[0], kernel, generator=torch.Generator().manual_seed(seed),
                       x_init=x, **settings)
    return x.shape[0] * settings["levels"] * LEVEL_STEPS / result.wall_time, compile_seconds


def analytic_rows(dims: list[int], chains: int, repeats: int, smoke: bool, progress: bool
                  ) -> tuple[list, str | None]:
    """Chain-steps per second per (dimension, kernel, implementation); medians over ``repeats``."""
    missing = peers.blackjax_available()
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)  # a graph per case
    cases = [(d, k) for d in dims for k in KERNELS]
    return [_analytic_row(dim, kernel, chains, repeats, 10 if smoke else STEPS[dim], missing is None)
            for dim, kernel in tqdm(cases, disable=not progress, desc="analytic products")], missing


def _analytic_row(dim: int, kernel: str, chains: int, repeats: int, steps: int, blackjax: bool) -> dict:
    factors = gmm_product(dim)
    component = factors[0] & factors[1]
    x = torch.randn(chains, dim, generator=torch.Generator().manual_seed(1))
    size, leapfrog = STEP_SIZE[kernel], LEAPFROG
    variants: dict[str, Callable[[int], peers.Rate]] = {
        "compgen kernel": lambda s: _compgen_kernel_rate(kernel, component, x, steps, s, False),
        "compgen kernel, compiled": lambda s: _compgen_kernel_rate(kernel, component, x, steps, s, True),
        "compgen annealed": lambda s: _compgen_driver_rate(kernel, component, x, steps, s, False),
        "compgen annealed, compiled": lambda s: _compgen_driver_rate(kernel, component, x, steps, s, True),
        "hand-written eager": lambda s: peers.eager_rate(kernel, factors, 0.0, x, steps, size, leapfrog, s),
    }
    if blackjax and kernel != "ula":  # blackjax has no unadjusted Langevin kernel
        variants["blackjax"] = lambda s: peers.blackjax_rate(kernel, factors, 0.0, x, steps, size,
                                                             leapfrog, s)
    runs: dict[str, list[float]] = {name: [] for name in variants}
    compile_seconds: dict[str, float] = {}
    for r in range(repeats):  # the variants back to back in each repeat: their ratios share the noise
        for name, measure in variants.items():
            rate, compiling = measure(r)
            runs[name].append(rate)
            compile_seconds[name] = max(compile_seconds.get(name, 0.0), compiling)
    return {"dim": dim, "kernel": kernel, "chains": chains, "steps": steps,
            "rates": {k: statistics.median(v) for k, v in runs.items()}, "runs": runs,
            "compile_seconds": compile_seconds}


def _split(wall: float, leaves: list[Timed], whole: Timed) -> dict:
    network = sum(leaf.seconds for leaf in leaves)
    return {"wall_seconds": wall, "network_seconds": network,
            "composition_seconds": whole.seconds - network, "outside_seconds": wall - whole.seconds,
            "outside_share": 1 - network / wall, "evaluations": whole.calls}


def overhead_rows(chains: int, smoke: bool, progress: bool) -> list[dict]:
    """Where the wall time of a sampling run goes, for three compositions with real models."""
    from compgen.models.discrete import RBM
    from compgen.models.pretrained import load_pretrained
    from compgen.tasks.images.generate import GUIDANCE, SAMPLERS
    from compgen.tasks.images.models import encode

    rows = []
    leaves = [Timed(load_pretrained("bars_h")), Timed(load_pretrained("bars_v"))]
    whole = Timed(leaves[0] & leaves[1])
    for kernel in tqdm(KERNELS, disable=not progress, desc="learned 2D product"):
        for t in (*leaves, whole):
            t.seconds, t.calls = 0.0, 0
        result = cg.sample(whole, 64 if smoke else chains, kernel, generator=torch.Generator().manual_seed(0),
                           levels=5 if smoke else 25, steps=4)
        rows.append({"case": "learned 2D product (bars_h & bars_v)", "sampler": kernel,
                     "chains": result.x.shape[0], **_split(result.wall_time, leaves, whole)})

    model = Timed(_image_model())
    whole = Timed(cg.algebra.guided(model, encode(list(SENTENCES[:2])), GUIDANCE))
    for kernel in tqdm(("ula", "mala"), disable=not progress, desc="image U-Net composition"):
        model.seconds = whole.seconds = model.calls = whole.calls = 0
        settings = {**SAMPLERS[kernel], **({"levels": 3} if smoke else {})}
        result = cg.sample(whole, 2 if smoke else 8, generator=torch.Generator().manual_seed(0), **settings)
        rows.append({"case": "image U-Net, 2 sentences", "sampler": kernel, "chains": result.x.shape[0],
                     **_split(result.wall_time, [model], whole)})

    rbm = Timed(RBM.random(visible=100, hidden=25, weight_std=1.0, bias_std=0.5, seed=0))
    result = cg.sample(rbm, 64 if smoke else chains, "gwg", generator=torch.Generator().manual_seed(0),
                       steps=20 if smoke else 500)
    rows.append({"case": "RBM 100x25", "sampler": "gwg", "chains": result.x.shape[0],
                 "chain_steps_per_second": result.x.shape[0] * len(result.acceptance) / result.wall_time,
                 **_split(result.wall_time, [rbm], rbm)})
    return rows


def _image_model():
    from compgen.models.pretrained import load_pretrained

    return load_pretrained("scenes_sentences")


def factor_rows(smoke: bool, batch: int = 64) -> list[dict]:
    """One evaluation (energy and score) of K factors of one network at ``batch`` chains."""
    from compgen.tasks.images.models import encode

    rows = []
    mlp = cg.EnergyDiffusion(dim=2, num_classes=4)  # the shipped 2D models' size; weights do not matter
    x = torch.randn(batch, 2, generator=torch.Generator().manual_seed(0))
    unet = _image_model()
    images = torch.randn(batch, unet.dim, generator=torch.Generator().manual_seed(0))
    conditions = encode(list(SENTENCES))
    for k in (1, 2, 4):
        factors = [mlp.given(c) for c in range(k)]
        product = cg.algebra.compose.Product(factors) if k > 1 else factors[0]
        one_by_one = lambda fs=factors: [f.energy_and_score(x, 0.3) for f in fs]  # noqa: E731
        with torch.no_grad():
            rows.append({"network": "2D energy MLP", "factors": k, "batch": batch,
                         "batched_seconds": seconds_per_call(lambda p=product: p.energy_and_score(x, 0.3),
                                                              20 if smoke else 200),
                         "one_by_one_seconds": seconds_per_call(one_by_one, 20 if smoke else 200)})
            guided = cg.algebra.guided(unet, conditions[:k], 3.0)
            parts = [unet.given(c) for c in [unet.null_condition, *conditions[:k]]]
            rows.append({"network": "image U-Net (guided, + null)", "factors": k, "batch": batch,
                         "batched_seconds": seconds_per_call(lambda g=guided: g.score(images, 0.3),
                                                              2 if smoke else 5),
                         "one_by_one_seconds": seconds_per_call(
                             lambda ps=parts: [p.score(images, 0.3) for p in ps], 2 if smoke else 5)})
    return rows


def memory_rows(smoke: bool) -> list[dict]:
    """Peak resident memory of a short ULA run on the image composition, each case in a fresh
    process (a process's freed memory stays resident, so cases in one process would hide each
    other's peaks); the peak above the process's own after loading the model."""
    cases = [(c, k, None) for c in ((2, 4) if smoke else (8, 32, 64)) for k in (1, 2, 4)]
    cases.append((4, 4, 2) if smoke else (64, 4, 8))
    rows = []
    for chains, k, chunk in cases:
        done = subprocess.run([sys.executable, "-m", "compgen.tasks.speed.memory", str(chains), str(k),
                               str(chunk or 0)], capture_output=True, text=True, check=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())})
        rows.append({"chains": chains, "factors": k, "chunk_size": chunk, **json.loads(done.stdout)})
    return rows


def run_speed_benchmark(out: Path, chains: int = 2000, repeats: int = 3, dims: tuple[int, ...] = (2, 16, 64),
                        smoke: bool = False, progress: bool = True) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    malloc = ("glibc thresholds set (compgen.allocator)" if keep_freed_memory()
              else "glibc defaults or the environment's")  # the same for every variant
    analytic, missing = analytic_rows(list(dims), chains, repeats, smoke, progress)
    result = {"machine": {**machine(), "malloc": malloc}, "chains": chains, "repeats": repeats,
              "smoke": smoke,
              "blackjax": missing or "measured", "analytic": analytic,
              "overhead": overhead_rows(chains, smoke, progress), "factors": factor_rows(smoke),
              "memory": memory_rows(smoke)}
    result["seconds"] = time.perf_counter() - started
    return finish(out, "speed", result, format_table(result), plot)


def format_table(result: dict) -> str:
    lines = [f"chain-steps per second (median of {result['repeats']}; {result['machine']['threads']} "
             f"thread(s); malloc: {result['machine'].get('malloc')}; blackjax: {result['blackjax']})", "",
             "| D | kernel | compgen kernel | compiled | annealed | annealed, compiled | hand eager "
             "| blackjax "
             "| kernel / hand | compiled / blackjax |", "|" + "---|" * 10]
    for row in result["analytic"]:
        r = row["rates"]
        jax = r.get("blackjax")
        cells = [f"{r[k] / 1e3:.0f}k" for k in VARIANTS[:5]]
        cells.append("n/a" if jax is None else f"{jax / 1e3:.0f}k")
        cells.append(f"{r['compgen kernel'] / r['hand-written eager']:.2f}x")
        cells.append("n/a" if jax is None else f"{r['compgen kernel, compiled'] / jax:.2f}x")
        lines.append(f"| {row['dim']} | {row['kernel']} | " + " | ".join(cells) + " |")
    lines += ["", "time outside the model evaluations", "",
              "| composition | sampler | chains | wall s | network s | composition s | outside s "
              "| outside share |",
              "|" + "---|" * 8]
    for row in result["overhead"]:
        lines.append(f"| {row['case']} | {row['sampler']} | {row['chains']} | {row['wall_seconds']:.2f} | "
                     f"{row['network_seconds']:.2f} | {row['composition_seconds']:.3f} | "
                     f"{row['outside_seconds']:.3f} | {100 * row['outside_share']:.1f}% |")
    lines += ["", "one evaluation of K factors of one network at batch 64 (ms)", "",
              "| network | K | batched | one call per factor | batched / K=1 |", "|---|---|---|---|---|"]
    first = {}
    for row in result["factors"]:
        first.setdefault(row["network"], row["batched_seconds"])
        ratio = row["batched_seconds"] / first[row["network"]]
        lines.append(f"| {row['network']} | {row['factors']} | {1e3 * row['batched_seconds']:.2f} | "
                     f"{1e3 * row['one_by_one_seconds']:.2f} | {ratio:.2f}x |")
    lines += ["", "peak memory of sampling the image composition (MiB above the start)", "",
              "| chains | sentences | chunk_size | peak MiB |", "|---|---|---|---|"]
    for row in result["memory"]:
        chunk = row["chunk_size"] or "-"
        lines.append(f"| {row['chains']} | {row['factors']} | {chunk} | {row['peak_mb']:.0f} |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.5))
    names = VARIANTS
    rows = result["analytic"]
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        axes[0].bar([i + j * width for i in range(len(rows))], [r["rates"].get(name, 0) / 1e6 for r in rows],
                    width, label=name)
    axes[0].set_xticks([i + 0.4 - width / 2 for i in range(len(rows))],
                       [f"{r['dim']}D {r['kernel']}" for r in rows], rotation=60, fontsize=7)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("M chain-steps / s")
    axes[0].set_title("analytic GMM products")
    axes[0].legend(fontsize=6)
    over = result["overhead"]
    axes[1].barh(range(len(over)), [100 * r["outside_share"] for r in over])
    axes[1].set_yticks(range(len(over)), [f"{r['case'][:24]} {r['sampler']}" for r in over], fontsize=7)
    axes[1].set_xlabel("% of wall time outside the networks")
    axes[1].set_title("overhead")
    for network in dict.fromkeys(r["network"] for r in result["factors"]):
        rs = [r for r in result["factors"] if r["network"] == network]
        ks, unit = [r["factors"] for r in rs], rs[0]["batched_seconds"]
        axes[2].plot(ks, [r["batched_seconds"] / unit for r in rs], "o-", label=f"{network}, batched")
        axes[2].plot(ks, [r["one_by_one_seconds"] / unit for r in rs], "x--",
                     label=f"{network}, one call each")
    axes[2].axhline(2, color="grey", lw=0.5)
    axes[2].set_xlabel("factors K")
    axes[2].set_ylabel("time / time of K=1")
    axes[2].set_title("factors of one network, batch 64")
    axes[2].legend(fontsize=6)
    for k in (1, 2, 4):
        rs = [r for r in result["memory"] if r["factors"] == k and r["chunk_size"] is None]
        axes[3].plot([r["chains"] for r in rs], [r["peak_mb"] for r in rs], "o-", label=f"{k} sentences")
    for r in result["memory"]:
        if r["chunk_size"]:
            axes[3].plot([r["chains"]], [r["peak_mb"]], "k*", ms=10, label=f"chunk_size={r['chunk_size']}")
    axes[3].set_xlabel("chains")
    axes[3].set_ylabel("peak MiB")
    axes[3].set_title("memory, image composition")
    axes[3].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
