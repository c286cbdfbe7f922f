"""``compgen bench remote``: what hosting factors in Ray actors costs per evaluation.

For K = 1, 2, 4 factors, one evaluation (energy and score of all chains) of the local product
against the same product with every factor in its own actor (one worker process each, one
torch thread each, like the caller). The remote calls of one evaluation run concurrently, so
the ideal is one round trip for any K. This machine has 2 cores shared by the caller and up to
4 workers: past 2 factors the workers' compute cannot all overlap.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

import compgen as cg
from compgen.algebra.compose import Product
from compgen.models.pretrained import load_pretrained
from compgen.tasks.results import finish, machine
from compgen.tasks.speed.timing import seconds_per_call

MLPS = ("bars_h", "bars_v", "ring", "corner")
SENTENCES = ("a red circle", "a blue square", "a green triangle", "a yellow circle")


def _rows(network: str, local: list, remote: list, x: torch.Tensor, calls: int) -> list[dict]:
    rows = []
    for k in (1, 2, 4):
        lp, rp = Product(local[:k]), Product(remote[:k])
        with torch.no_grad():
            lt = seconds_per_call(lambda p=lp: p.energy_and_score(x, 0.3), calls)
            rt = seconds_per_call(lambda p=rp: p.energy_and_score(x, 0.3), calls)
        rows.append({"network": network, "factors": k, "chains": x.shape[0], "local_seconds": lt,
                     "remote_seconds": rt, "remote_over_local": rt / lt})
    return rows


def run_remote_benchmark(out: Path, chains: int = 2000, calls: int = 50, smoke: bool = False,
                         progress: bool = True) -> dict:
    import ray

    from compgen.tasks.images.models import encode

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(num_cpus=4, log_to_driver=False, include_dashboard=False)
    calls = 3 if smoke else calls
    mlps = [load_pretrained(n) for n in MLPS]
    x = torch.randn(64 if smoke else chains, 2, generator=torch.Generator().manual_seed(0))
    remote_mlps = [cg.remote(m) for m in mlps]
    rows = _rows("2D energy MLP", mlps, remote_mlps, x, calls)
    for r in remote_mlps:  # free their CPUs for the U-Net's workers
        ray.kill(r.actor)
    unet = load_pretrained("scenes_sentences")
    conditions = encode(list(SENTENCES))
    workers = [cg.remote(unet) for _ in SENTENCES]
    images = torch.randn(2 if smoke else 8, unet.dim, generator=torch.Generator().manual_seed(0))
    rows += _rows("image U-Net", [unet.given(c) for c in conditions],
                  [w.given(c) for w, c in zip(workers, conditions, strict=True)], images,
                  2 if smoke else max(3, calls // 10))
    for w in workers:
        ray.kill(w.actor)
    result = {"machine": machine(), "smoke": smoke, "rows": rows, "seconds": time.perf_counter() - started,
              "note": "2 cores shared by the caller and the workers; local products of one network's "
                      "conditions (the U-Net) are one batched forward pass, remote ones one call per worker"}
    return finish(out, "remote", result, format_table(result), plot)


def format_table(result: dict) -> str:
    lines = ["one evaluation (energy and score) of K factors, local vs one Ray actor per factor (ms, median)",
             "", "| network | chains | K | local | remote | remote / local | remote K / remote 1 |",
             "|---|---|---|---|---|---|---|"]
    first = {}
    for r in result["rows"]:
        first.setdefault(r["network"], r["remote_seconds"])
        lines.append(f"| {r['network']} | {r['chains']} | {r['factors']} | {1e3 * r['local_seconds']:.2f} | "
                     f"{1e3 * r['remote_seconds']:.2f} | {r['remote_over_local']:.2f}x | "
                     f"{r['remote_seconds'] / first[r['network']]:.2f}x |")
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    networks = list(dict.fromkeys(r["network"] for r in result["rows"]))
    fig, axes = plt.subplots(1, len(networks), figsize=(5 * len(networks), 3.5))
    for ax, network in zip(axes, networks, strict=True):
        rows = [r for r in result["rows"] if r["network"] == network]
        ks = [r["factors"] for r in rows]
        ax.plot(ks, [1e3 * r["local_seconds"] for r in rows], "o-", label="local")
        ax.plot(ks, [1e3 * r["remote_seconds"] for r in rows], "s-", label="remote (one actor per factor)")
        ax.set(title=f"{network}, {rows[0]['chains']} chains", xlabel="factors K", ylabel="ms per evaluation",
               xticks=ks)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
