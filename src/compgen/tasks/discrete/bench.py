"""``compgen bench languages``: the product of two autoregressive language models, sampled by
the naive product of next-token conditionals and by MCMC. Writes languages.{json,md,png}.

- At length 8 (4^8 = 65,536 strings) the product ``balanced & motif`` is enumerated exactly:
  each sampler's total variation to it, beside the TV that exact samples of the same size
  attain, and the exact TV of the naive sampler's own distribution (no sampling error).
- At length 24 nothing can be enumerated: the fraction of samples in both languages, and the
  Hamming-kernel MMD to exact samples of the true intersection (uniform balanced strings that
  contain the motif), beside the MMD between two exact sample sets.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from compgen.algebra.discrete import all_states
from compgen.files import write_json
from compgen.metrics import exact_distribution, hamming_mmd, total_variation, tv_noise_floor
from compgen.samplers import sample
from compgen.tasks.discrete.languages import LANGUAGES, decode, member, sample_intersection
from compgen.tasks.discrete.models import language_models, naive_product_log_prob, naive_product_sample
from compgen.tasks.results import finish, machine, mean_std

EXACT_LENGTH, LONG_LENGTH = 8, 24
# (label, sampler, settings); MH proposes from the balanced model and accepts with the product
# MCMC chains start from samples of the balanced model. Step counts: independent MH reaches the
# exact-sample TV at L=8 in about 20 steps; Gibbs and GWG are far from it at these budgets
# (single-token moves cannot keep brackets balanced) and already the slowest rows.
ROWS = [
    ("naive product of conditionals", "naive", {}),
    ("MH, independent proposals", "mh", {"steps": 30}),
    ("MH, redraw 4 positions", "mh", {"span": 4, "steps": 60}),
    ("Gibbs", "gibbs", {"steps": 8}),
    ("Gibbs-with-Gradients", "gwg", {"steps": 300}),
]


def _run(models: dict, label: str, sampler: str, settings: dict, n: int, seed: int) -> tuple:
    """Samples (n, L), seconds and energy evaluations per chain for one row and seed."""
    gen = torch.Generator().manual_seed(seed)
    ordered = [models[name] for name in LANGUAGES]
    if sampler == "naive":
        start = time.perf_counter()
        x = naive_product_sample(ordered, n, gen)
        return x, time.perf_counter() - start, float("nan")
    extra = {"proposal": models["balanced"]} if sampler == "mh" else {}
    start = models["balanced"].sample(n, gen)
    result = sample(ordered[0] & ordered[1], n, sampler, generator=gen, x_init=start, **settings, **extra)
    return result.x, result.wall_time, result.evaluations


def _both(x: torch.Tensor) -> float:
    return float((member("balanced", x) & member("motif", x)).float().mean())


def run_languages_benchmark(out: Path, n: int = 5000, n_long: int = 1000, seeds: int = 3,
                            rows: list[tuple[str, str, dict]] = ROWS, name: str = "languages",
                            progress: bool = True) -> dict:
    """Run ``rows`` (label, sampler, settings) for ``seeds`` seeds; writes ``name``.{json,md,png}."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result: dict = {"n": n, "n_long": n_long, "seeds": seeds, "rows": [],
                    "machine": machine()}

    short = language_models(EXACT_LENGTH)
    product = short["balanced"] & short["motif"]
    states = all_states(EXACT_LENGTH, product.num_categories)
    probs = exact_distribution(product)
    naive_probs = naive_product_log_prob([short[name] for name in LANGUAGES], states).double().exp()
    in_both = member("balanced", states) & member("motif", states)
    floor_mean, floor_std = tv_noise_floor(probs, n, generator=torch.Generator().manual_seed(99))
    result["exact"] = {
        "length": EXACT_LENGTH, "tv_floor_mean": floor_mean, "tv_floor_std": floor_std,
        "naive_exact_tv": 0.5 * float((naive_probs - probs).abs().sum()),
        "product_mass_in_both": float(probs[in_both].sum()),
        "naive_mass_in_both": float(naive_probs[in_both].sum()),
        # how far the learned product is from the true intersection (model error, not sampling)
        "product_tv_to_intersection": 0.5 * float((probs - in_both.double() / in_both.sum()).abs().sum()),
    }

    long = language_models(LONG_LENGTH)
    gen = torch.Generator().manual_seed(123)
    reference = sample_intersection(n_long, LONG_LENGTH, gen)
    result["long"] = {"length": LONG_LENGTH,
                      "mmd_floor": hamming_mmd(sample_intersection(n_long, LONG_LENGTH, gen), reference)}

    for label, sampler, settings in tqdm(rows, disable=not progress, desc=name):
        row = {"label": label, "sampler": sampler, "settings": settings, "short": [], "long": []}
        for seed in range(seeds):
            x, seconds, evals = _run(short, label, sampler, settings, n, seed)
            row["short"].append({"tv": total_variation(x, probs, product.num_categories),
                                 "in_both": _both(x), "seconds": seconds, "evaluations": evals})
            x, seconds, evals = _run(long, label, sampler, settings, n_long, seed)
            row["long"].append({"in_both": _both(x), "mmd": hamming_mmd(x, reference),
                                "seconds": seconds, "evaluations": evals,
                                "examples": decode(x[:5])})
        result["rows"].append(row)
        result["seconds"] = round(time.perf_counter() - start, 1)
        write_json(out / f"{name}.json", result)
    return finish(out, name, result, format_table(result), plot)


def _mean_std(values: list[float], spec: str = ".3f") -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean_std(statistics.fmean(values), spread, len(values), spec)


def format_table(result: dict) -> str:
    e, lg = result["exact"], result["long"]
    lines = [
        f"Length {e['length']} (exact product enumerated; exact samples attain TV "
        f"{e['tv_floor_mean']:.3f} ± {e['tv_floor_std']:.3f} at n={result['n']}). "
        f"Length {lg['length']}: MMD between two exact intersection sample sets {lg['mmd_floor']:.2e} "
        f"(n={result['n_long']}). "
        + (f"Mean ± std over {result['seeds']} seeds." if result["seeds"] >= 2
           else "One seed: no spread shown."),
        "",
        f"| sampler | TV to exact product (L={e['length']}) | in both languages (L={e['length']}) "
        f"| in both languages (L={lg['length']}) | MMD to intersection (L={lg['length']}) "
        f"| seconds (L={lg['length']}) |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        s, lo = r["short"], r["long"]
        lines.append(f"| {r['label']} | {_mean_std([v['tv'] for v in s])} "
                     f"| {_mean_std([v['in_both'] for v in s])} "
                     f"| {_mean_std([v['in_both'] for v in lo])} "
                     f"| {_mean_std([v['mmd'] for v in lo], '.2e')} "
                     f"| {statistics.median(v['seconds'] for v in lo):.1f} |")
    lines += ["", f"Exact (no sampling): the naive sampler's distribution is TV {e['naive_exact_tv']:.3f} "
              f"from the product and puts {e['naive_mass_in_both']:.3f} of its mass in both languages; "
              f"the product puts {e['product_mass_in_both']:.3f} there and is TV "
              f"{e['product_tv_to_intersection']:.3f} from the uniform intersection (model error)."]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    labels = [r["label"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    panels = [(axes[0], "short", "tv", f"TV to the exact product, L={result['exact']['length']}"),
              (axes[1], "long", "in_both", f"fraction in both languages, L={result['long']['length']}")]
    for ax, part, key, title in panels:
        values = [[v[key] for v in r[part]] for r in rows]
        means = [statistics.fmean(v) for v in values]
        errs = [statistics.stdev(v) if len(v) > 1 else 0 for v in values]
        ax.bar(range(len(rows)), means, yerr=errs, capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(rows)), labels, fontsize=7, rotation=20, ha="right")
        ax.set_title(title, fontsize=9)
    e = result["exact"]
    axes[0].axhline(e["tv_floor_mean"], color="k", ls="--", lw=1, label="exact samples")
    axes[0].legend(fontsize=7)
    low = min(v["in_both"] for r in rows for v in r["long"])
    axes[1].set_ylim(max(0.0, low - 0.05), 1.0)  # the differences are a few percent
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
