"""Remote components (Ray actors on a local cluster): the same samples as local ones, faults
retried or reported with where they happened, checkpoints sent as bytes or paths."""

import os
import signal

import pytest
import torch

import compgen as cg
from compgen.checkpoint import dumps, loads
from compgen.models.pretrained import load_pretrained

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=8, log_to_driver=False, include_dashboard=False)  # scheduling slots, not cores
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def models():
    return load_pretrained("bars_h"), load_pretrained("bars_v")


def _sample(q, sampler, **kw):
    return cg.sample(q, 128, sampler, generator=torch.Generator().manual_seed(0), levels=8, **kw)


@pytest.mark.parametrize("sampler", ["ula", "mala", "hmc", "uhmc", "reverse"])
def test_a_remote_product_samples_what_the_local_one_does(cluster, models, sampler):
    a, b = models
    remote = cg.remote(a) & cg.remote(b)
    gap = (_sample(remote, sampler).x - _sample(a & b, sampler).x).abs().max()
    assert gap <= 1e-6, gap
    assert repr(remote) == "remote(bars_h) & remote(bars_v)"


def test_a_killed_worker_is_restarted_and_the_step_retried(cluster, models):
    a, b = models
    ra = cg.remote(a)
    pids = []

    def kill(info):
        if info["i"] == 3:
            pids.append(ra.worker_pid())
            os.kill(pids[-1], signal.SIGKILL)

    faulty = _sample(ra & b, "mala", callback=kill).x
    assert pids and ra.worker_pid() != pids[0]  # a new process answered
    assert torch.equal(faulty, _sample(a & b, "mala").x)


def test_a_silent_worker_times_out_and_is_replaced(cluster, models):
    a, b = models
    ra = cg.remote(a, timeout=2.0, retries=10)  # Ray takes ~10 s to replace a stopped process
    stopped = []

    def stop(info):
        if info["i"] == 2 and not stopped:
            stopped.append(ra.worker_pid())
            os.kill(stopped[0], signal.SIGSTOP)  # alive but silent

    x = _sample(ra & b, "hmc", callback=stop).x
    assert stopped and ra.worker_pid() != stopped[0]
    assert torch.equal(x, _sample(a & b, "hmc").x)


def test_too_many_failures_raise_an_error_that_says_where(cluster, models):
    a, b = models
    ra = cg.remote(a, retries=2, max_restarts=0)
    results = []

    def kill(info):
        if info["i"] == 4:
            os.kill(ra.worker_pid(), signal.SIGKILL)

    with pytest.raises(cg.EvaluationError,
                       match=r"bars_h \(remote\): 3 attempts failed, the last: the worker died .* "
                             r"at noise level 5 \(t=[0-9.e-]+\)(, step \d)?; nothing was returned"):
        results.append(_sample(ra & b, "mala", callback=kill))
    assert results == []


def test_checkpoints_go_as_bytes_or_paths_and_named_components_are_found(cluster, models, tmp_path):
    a, _ = models
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    path = cg.save(a, tmp_path / "a.safetensors")
    by_path = cg.remote(str(path), name="bars_h_test")
    by_name = cg.remote_ref("bars_h_test")
    by_bytes = cg.remote(path.read_bytes())
    want = a.energy_and_score(x, 0.3)
    for r in (by_path, by_name, by_bytes):
        energy, score = r.energy_and_score(x, 0.3)
        assert torch.equal(energy, want[0]) and torch.equal(score, want[1])
    with pytest.raises(ValueError, match="no remote component named 'nobody'"):
        cg.remote_ref("nobody")
    with pytest.raises(TypeError, match="expected a model, checkpoint bytes or a path, got int"):
        cg.remote(3)
    with pytest.raises(ValueError, match=r"expects x of shape \(batch, 2\)"):
        by_bytes.score(torch.zeros(3, 5))


def test_conditions_of_a_remote_model_are_one_batched_call(cluster):
    torch.manual_seed(0)
    m = cg.EnergyDiffusion(dim=2, cond_dim=3, hidden=32)
    r = cg.remote(m)
    c1, c2 = torch.randn(3), torch.randn(3)
    x = torch.randn(32, 2)
    local, remote = m.given(c1) & m.given(c2) ** 0.5, r.given(c1) & r.given(c2) ** 0.5
    for u, v in zip(local.energy_and_score(x, 0.4), remote.energy_and_score(x, 0.4), strict=True):
        torch.testing.assert_close(u, v, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="is unconditional"):
        cg.remote(cg.EnergyDiffusion(dim=2)).given(c1)


def test_checkpoint_bytes_round_trip_and_refuse_garbage(models):
    a, _ = models
    x = torch.randn(8, 2)
    torch.testing.assert_close(loads(dumps(a)).score(x, 0.2), a.score(x, 0.2), rtol=0, atol=0)
    for bad in (b"", b"\x05\x00\x00\x00\x00\x00\x00\x00{oops", dumps(a)[:100]):
        with pytest.raises(cg.CheckpointError, match="from a friend is not a readable safetensors file"):
            loads(bad, source="from a friend")


def test_compgen_serve_names_a_component_other_processes_find(cluster, models, capsys):
    """The README's example: serve two shipped models by name, then compose them from here."""
    import re
    from pathlib import Path

    from compgen.cli import main
    from compgen.models.pretrained import WEIGHTS_DIR

    for name in ("bars_h", "bars_v"):
        main(["serve", str(WEIGHTS_DIR / f"{name}.safetensors"), "--name", name, "--quiet"])
        assert f"serving remote({name}) (dim 2) as '{name}'" in capsys.readouterr().out
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "remote_ref" in b]
    namespace: dict = {}
    exec(compile(block, "README.md remote block", "exec"), namespace)
    a, b = models
    want = cg.sample(a & b, 2000, "mala", generator=torch.Generator().manual_seed(0)).x
    assert torch.equal(namespace["x"], want)


def test_the_remote_benchmark_runs_at_smoke_size(cluster, tmp_path):
    from compgen.tasks.remote.bench import run_remote_benchmark

    result = run_remote_benchmark(tmp_path, smoke=True, progress=False)
    assert [r["factors"] for r in result["rows"]] == [1, 2, 4, 1, 2, 4]
    assert all(r["remote_seconds"] > 0 and r["local_seconds"] > 0 for r in result["rows"])
    assert (tmp_path / "remote.png").is_file() and "| 2D energy MLP | 64 | 4 |" in result["table"]


@pytest.mark.slow  # ~35 s: three annealed samplings of 2000 chains
def test_the_silos_benchmark_runs_at_smoke_size(cluster, tmp_path):
    from compgen.tasks.remote.silos import METHODS, run_silos

    result = run_silos(tmp_path, tasks=("product",), seeds=1, steps=20, rounds=4, progress=False)
    summary = result["tasks"]["product"]["summary"]
    assert set(summary) == set(METHODS)
    assert all(s["w2_over_floor"]["mean"] > 0 for s in summary.values())
    assert (tmp_path / "silos.png").is_file() and "| bars_h & bars_v | FedAvg conditional" in result["table"]
