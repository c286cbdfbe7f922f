"""The command line, in smoke-sized runs."""

import json

import pytest
import torch

import compgen as cg
from compgen.cli import main
from compgen.models.pretrained import WEIGHTS_DIR, available, load_pretrained
from conftest import cli_error


def test_help_explains_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "train", "sample", "bench", "discrete-demo", "train-language"):
        assert command in out


def test_python_dash_m_compgen_runs_the_cli():
    """The README says `python -m compgen`: in bash a bare `compgen` is a shell builtin."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "compgen", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("usage: compgen") and "bench" in done.stdout


def test_demo_smoke(tmp_path, capsys):
    main(["demo", "--smoke", "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert "| product | analytic | hmc |" in out and "| negation | energy | reverse |" in out
    result = json.loads((tmp_path / "demo.json").read_text())
    assert len(result["rows"]) == 3 * 2 * 3
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_train_writes_checkpoint_and_record(tmp_path):
    out = tmp_path / "ring.safetensors"
    main(["train", "--density", "ring", "--steps", "20", "--samples", "200", "--out", str(out), "--quiet"])
    model = cg.load(out)
    assert isinstance(model, cg.EnergyDiffusion)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["steps"] == 20 and record["command"].startswith("compgen train --density ring")


def test_discrete_demo_smoke(tmp_path, capsys):
    main(["discrete-demo", "--smoke", "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert "| naive product of conditionals |" in out and "| MH, independent proposals |" in out
    assert "One seed: no spread shown." in out and "±" not in out.split("| sampler |")[1]  # one seed
    result = json.loads((tmp_path / "discrete_demo.json").read_text())
    assert 0.2 < result["exact"]["naive_exact_tv"] < 0.5  # the shipped models' naive product is biased
    assert (tmp_path / "discrete_demo.png").stat().st_size > 10_000


def test_train_language_writes_a_loadable_model(tmp_path):
    out = tmp_path / "balanced.safetensors"
    main(["train-language", "balanced", "--steps", "5", "--samples", "20", "--out", str(out), "--quiet"])
    model = cg.load(out)
    assert model.num_categories == 4 and model.with_length(6).log_prob(torch.zeros(2, 6).long()).shape == (2,)
    assert json.loads(out.with_suffix(".json").read_text())["language"] == "balanced"


def test_sample_expression(tmp_path, capsys):
    png = tmp_path / "s.png"
    main(["sample", "(bars_h & bars_v) | ring", "--components", "analytic", "--n", "200",
          "--sampler", "mala", "--set", "levels=6", "--out", str(png), "--quiet"])
    out = capsys.readouterr().out
    assert "(bars_h & bars_v) | ring:" in out and "exact-LL" in out and "noise floor" in out
    assert png.stat().st_size > 5_000


def test_sample_rejects_bad_expression(capsys):
    message = cli_error(capsys, ["sample", "ring & nope", "--components", "analytic", "--quiet"])
    assert "unknown component 'nope'" in message


def test_shipped_weights_have_training_records():
    names = available()
    assert {"bars_h", "bars_v", "ring", "bands", "corner", "diagonals", "balanced", "motif"} <= set(names)
    for name in names:
        record = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
        model = load_pretrained(name)
        if name.startswith("decomposition_"):  # written by the benchmark that measures it
            assert record["command"].startswith(f"compgen bench discovery --dataset {record['dataset']} ")
            assert record["cpu_seconds"] < 3600 and repr(model) == f"decomposed_{record['dataset']}"
            assert model.denoiser.t_min == 5e-3
            continue
        assert record["command"].startswith("compgen train")
        assert record["cpu_seconds"] < 120 or "density" not in record  # 2D models: under 2 minutes
        maze = name.startswith("maze_")  # trajectory models are named by maze and horizon
        expected = f"{record['maze']}_h{record['horizon']}" if maze else name.removesuffix("_score")
        assert repr(model) == expected
        assert model.t_min == 5e-3 if model.num_categories is None else model.num_categories == 4


def test_learned_compositions_stop_at_their_trusted_noise_level():
    q = load_pretrained("bars_h") & cg.data.toy2d.bars_v()
    assert q.sampling_t_min == 5e-3
    result = cg.sample(q, 8, "mala", levels=4, generator=torch.Generator().manual_seed(0))
    assert result.levels[-1].item() == pytest.approx(5e-3)
    assert cg.sample(cg.data.toy2d.ring(), 8, "mala", levels=4).levels[-1].item() == pytest.approx(1e-3)


def test_fidelity_benchmark_covers_every_task_and_kind(tmp_path, monkeypatch):
    """Tiny sizes; a mixture of score-only models is recorded as n/a, not a crash."""
    import compgen.tasks.toy2d.fidelity_bench as bench
    from compgen.tasks.toy2d import models as toy2d

    monkeypatch.setattr(bench, "SAMPLER_ROWS", [("reverse", {"levels": 3}), ("mala", {"levels": 3})])
    monkeypatch.setattr(bench, "EXTRA_ROWS", {kind: [] for kind in toy2d.KINDS})
    result = bench.run_fidelity_benchmark(tmp_path, n=40, seeds=1, progress=False)
    assert result["complete"] and len(result["rows"]) == len(toy2d.TASKS) * len(toy2d.KINDS) * 2
    errors = [(r["task"], r["kind"], r["sampler"]) for r in result["rows"] if "error" in r["metrics"]]
    assert ("mixture", "score", "reverse levels=3") in errors  # a score-only mixture cannot be built
    assert ("product", "score", "mala levels=3") in errors  # MH needs energies
    assert (tmp_path / "fidelity.png").exists() and (tmp_path / "fidelity.md").exists()

    # rerunning one task keeps every other row as it was, in the same order
    again = bench.run_fidelity_benchmark(tmp_path, n=40, seeds=1, tasks=["negation"], progress=False)
    assert [(r["task"], r["kind"], r["sampler"]) for r in again["rows"]] == \
        [(r["task"], r["kind"], r["sampler"]) for r in result["rows"]]
    kept = [r for r in result["rows"] if r["task"] != "negation"]
    assert [r for r in again["rows"] if r["task"] != "negation"] == json.loads(json.dumps(kept))
    assert again["kept_from_earlier_run"]["tasks"] == [t for t in toy2d.TASKS if t != "negation"]
    assert (tmp_path / "fidelity_negation.png").exists()
    # rerunning one kind keeps the other kinds' rows of every task
    learned = bench.run_fidelity_benchmark(tmp_path, n=40, seeds=1, kinds=["energy"], progress=False)
    assert [r for r in learned["rows"] if r["kind"] != "energy"] == \
        [r for r in json.loads(json.dumps(again["rows"])) if r["kind"] != "energy"]
    assert sum(r["kind"] == "energy" for r in learned["rows"]) == len(toy2d.TASKS) * 2
    assert (tmp_path / "fidelity_energy.png").exists()
    with pytest.raises(ValueError, match="n=40.*rerun every task"):
        bench.run_fidelity_benchmark(tmp_path, n=41, seeds=1, tasks=["negation"], progress=False)
    with pytest.raises(ValueError, match="unknown \\['nope'\\]"):
        bench.run_fidelity_benchmark(tmp_path, n=40, seeds=1, tasks=["nope"], progress=False)


def test_discrete_mixing_benchmark_smoke(tmp_path, monkeypatch):
    """Tiny sizes: every problem and sampler gets a curve, an ESS and a table row."""
    import compgen.tasks.discrete.mixing as bench

    small = {"ising": (cg.Ising(cg.models.lattice_couplings(3, 0.3), name="ising3x3"),
                       lambda n, g: cg.sample(cg.Ising(cg.models.lattice_couplings(3, 0.3)), n, "gibbs",
                                              steps=20, generator=g).x)}
    monkeypatch.setattr(bench, "problems", lambda seed=0: small)
    monkeypatch.setattr(bench, "SAMPLERS", [("Gibbs", "gibbs", {"steps": 4}), ("GWG", "gwg", {"steps": 30})])
    result = bench.run_mixing_benchmark(tmp_path, n=30, n_reference=40, seeds=2, progress=False)
    rows = result["problems"]["ising"]["rows"]
    assert [r["label"] for r in rows] == ["Gibbs", "GWG"]
    for row in rows:
        for run in row["runs"]:
            assert run["curve"][-1]["step"] == row["settings"]["steps"] and run["ess_per_second"] > 0
    assert "| GWG | 30 |" in result["table"] and (tmp_path / "discrete_mixing.png").exists()


def test_sample_refuses_a_non_normalizable_analytic_expression_and_flags_a_learned_runaway(capsys):
    message = cli_error(capsys, ["sample", "ring & ~corner", "--components", "analytic", "--n", "20",
                                 "--quiet"])
    assert message.startswith("ring & ~corner is not normalizable")
    main(["sample", "ring & ~corner", "--components", "energy", "--n", "200", "--quiet",
          "--set", "levels=40"])
    err = capsys.readouterr().err
    assert "warning: chains ran away" in err
    main(["sample", "ring & corner ** -0.5", "--components", "energy", "--n", "200", "--quiet",
          "--set", "levels=40"])  # the --help example, normalizable: no warning
    assert "warning" not in capsys.readouterr().err


def test_a_new_task_is_one_folder_with_a_cli_module(tmp_path, monkeypatch, capsys):
    """The command line finds task plug-ins: a folder under compgen.tasks with cli.register is
    all a new task needs (here one outside the source tree, put on the package's path)."""
    import compgen.tasks

    (tmp_path / "hello").mkdir()
    (tmp_path / "hello" / "__init__.py").write_text("")
    (tmp_path / "hello" / "cli.py").write_text(
        "def register(cli):\n"
        "    cli.title = 'hello task'\n"
        "    cli.command('hello', lambda a: print('hello', a.name), lambda p: p.add_argument('name'),\n"
        "                help='say hello')\n"
        "    cli.benchmark('hello', lambda a: {'table': f'| hello | {a.out} |'}, lambda p: None,\n"
        "                  help='a benchmark of greetings')\n")
    monkeypatch.setattr(compgen.tasks, "__path__", [*compgen.tasks.__path__, str(tmp_path)])
    main(["hello", "world"])
    main(["bench", "hello", "--out", "somewhere"])
    assert capsys.readouterr().out == "hello world\n| hello | somewhere |\n"
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    assert "hello task:\n  hello" in listing and "bench hello" in listing
    assert listing.index("2D densities") < listing.index("hello task")  # ORDER: toy2d first
