"""Generated composition tasks: factor families, the two rules, and the benchmark end to end (tiny)."""

import json

import torch

import compgen as cg
from compgen.tasks.robustness import bench
from compgen.tasks.robustness.families import FAMILIES, random_factor
from compgen.tasks.robustness.generator import KINDS, NEGATION_STRENGTH, factor_pool, generate_tasks


def test_every_family_draws_a_normalized_exact_factor_inside_the_reference_grid():
    for family in FAMILIES:
        for seed in range(3):
            f = random_factor(family, torch.Generator().manual_seed(seed))
            ref = cg.metrics.grid_density(f, lo=-4.5, hi=4.5, resolution=256)
            assert abs(ref.log_z) < 1e-3, family  # nothing of it falls off the grid


def test_generated_tasks_are_deterministic_distinct_and_follow_the_rules():
    pool = factor_pool(16, 0)
    tasks = generate_tasks(pool, 0)
    assert tasks == generate_tasks(factor_pool(16, 0), 0)
    assert len(tasks) == sum(count for count, _ in KINDS.values()) >= 30
    assert len({(t.kind, frozenset(t.expression.replace("(", "").replace(")", "").split())) for t in tasks}) \
        == len(tasks)
    for t in tasks:
        if t.kind == "negation":
            a, b = t.expression.split(" & ")[0], t.expression.split(" & ")[1].split(" ")[0]
            assert NEGATION_STRENGTH * pool[a].stds.max() ** 2 < pool[b].stds.max() ** 2
            cg.algebra.normalizer.check_normalizable(t.build(pool), 1e-3)


def test_benchmark_end_to_end_at_tiny_sizes(tmp_path, monkeypatch):
    rows = [("reverse", "reverse", {"levels": 5}), ("default", None, {"levels": 5})]
    result = bench.run_robustness_benchmark(tmp_path / "out", tmp_path / "models", n=60, pool_size=10,
                                            tasks=3, rows=rows, train_settings={"steps": 5}, progress=False)
    assert result["complete"] and len(result["factors"]) == 10 and len(result["tasks"]) == 3
    s = result["summary"]
    assert s["groups"]["products"]["tasks"] == 3 and 0 <= s["factors_alone"]["within_1.2x_of_reverse"] <= 1
    assert (tmp_path / "out" / "robustness.png").exists() and "median W2/floor" in result["table"]
    saved = json.loads((tmp_path / "out" / "robustness.json").read_text())
    assert saved["train_settings"] == {"steps": 5} and len(list((tmp_path / "models").iterdir())) == 10
    # a second run reuses the trained factors and the finished rows
    again = bench.run_robustness_benchmark(tmp_path / "out", tmp_path / "models", n=60, pool_size=10,
                                           tasks=3, rows=rows, train_settings={"steps": 5}, progress=False)
    assert again["tasks"] == saved["tasks"] and again["train_seconds"] == saved["train_seconds"]
