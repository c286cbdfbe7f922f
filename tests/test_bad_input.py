"""Bad input, table-driven: every row is a mistake a user makes, and the message it must get.

API rows raise ValueError / TypeError (or a subclass) whose message names the argument; CLI rows
exit with status 2 and one line ``error: ...`` (argparse's own errors exit 2 with ``error:`` too).
"""

import json
import re

import pytest
import torch

import compgen as cg
from compgen.data import toy2d
from conftest import cli_error

RING = toy2d.density("ring")
NAN_ROW = torch.zeros(4, 2).index_fill_(0, torch.tensor([1]), float("nan"))


def _model():
    return cg.EnergyDiffusion(2, hidden=8)


API = [  # (what, call, exception, message pattern)
    ("n not an integer", lambda: cg.sample(RING, n=2.5), ValueError, r"n must be >= 1 and an integer.*2\.5"),
    ("n zero", lambda: cg.sample(RING, n=0), ValueError, r"n must be >= 1"),
    ("not a component", lambda: cg.sample("ring", 4), TypeError, r"component must be a compgen Component"),
    ("unknown sampler", lambda: cg.sample(RING, 4, "nope"), ValueError, r"unknown sampler 'nope'.*mala"),
    ("unknown setting", lambda: cg.sample(RING, 4, "mala", bogus=1), TypeError,
     r"'mala' has no setting 'bogus'.*levels"),
    ("setting of the wrong type", lambda: cg.sample(RING, 4, "mala", levels=2.5), TypeError,
     r"levels must be int, got 2\.5"),
    ("steps = 0", lambda: cg.sample(RING, 4, "mala", steps=0), ValueError, r"levels and steps must be >= 1"),
    ("negative step size", lambda: cg.sample(RING, 4, "hmc", step_size=-0.1), ValueError,
     r"step_size must be positive"),
    ("leapfrog = 0", lambda: cg.sample(RING, 4, "hmc", leapfrog=0), ValueError, r"leapfrog must be >= 1"),
    ("generator is a seed", lambda: cg.sample(RING, 4, generator=3), TypeError,
     r"generator must be a torch.Generator"),
    ("x_init of the wrong shape", lambda: cg.sample(RING, 4, x_init=torch.zeros(4, 3)), ValueError,
     r"x_init must have shape \(4, 2\), got \(4, 3\)"),
    ("NaN in x_init", lambda: cg.sample(RING, 4, "mala", x_init=NAN_ROW), ValueError,
     r"x_init has non-finite values in 1 of 4 chains"),
    ("continuous sampler on a discrete component",
     lambda: cg.sample(cg.EnergyTable(torch.zeros(8), 3, 2), 4, "hmc"), ValueError, r"is discrete"),
    ("product of different dimensions", lambda: RING & cg.GaussianMixture(torch.zeros(1, 3), 1.0),
     ValueError, r"different dimensions: ring has dim 2"),
    ("mixture of a score-only model", lambda: cg.mixture([RING, cg.ScoreDiffusion(2)]),
     cg.EnergyRequiredError, r"a mixture needs energies.*score-only"),
    ("negative mixture weight", lambda: cg.mixture([RING, RING], [1.0, -1.0]), ValueError,
     r"mixture weights must be finite and positive"),
    ("power 0", lambda: RING ** 0, ValueError, r"exponent must be finite and non-zero"),
    ("negate with a negative strength", lambda: cg.negate(RING, -1), ValueError,
     r"strength must be positive"),
    ("non-normalizable analytic expression",
     lambda: cg.sample(RING & ~toy2d.density("corner"), 4), cg.NotNormalizableError,
     r"ring & ~corner is not normalizable"),
    ("energy of a 1-D x", lambda: RING.energy(torch.zeros(3)), ValueError,
     r"expects x of shape \(batch, 2\), got \(3,\)"),
    ("clamp outside the dimensions", lambda: RING.clamp([5], torch.tensor([0.0])), ValueError,
     r"indices must be distinct and in \[0, 2\)"),
    ("a condition to an unconditional density", lambda: RING.energy(torch.zeros(1, 2), 0.5, cond=1),
     ValueError, r"takes no condition"),
    ("means of the wrong shape", lambda: cg.GaussianMixture(torch.zeros(2), 1.0), ValueError,
     r"means must have shape \(K, D\)"),
    ("train on a Python list", lambda: cg.train(_model(), [[0.0, 1.0]], steps=2, progress=False), TypeError,
     r"data must be a torch.Tensor.*got list"),
    ("train on an empty tensor", lambda: cg.train(_model(), torch.zeros(0, 2), steps=2, progress=False),
     ValueError, r"data is empty, shape \(0, 2\)"),
    ("train for 0 steps", lambda: cg.train(_model(), torch.zeros(10, 2), steps=0, progress=False),
     ValueError, r"steps must be a positive integer, got 0"),
    ("train with batch size 0",
     lambda: cg.train(_model(), torch.zeros(10, 2), steps=2, batch_size=0, progress=False), ValueError,
     r"batch_size must be a positive integer"),
    ("load a missing checkpoint", lambda: cg.load("/nonexistent.safetensors"), cg.CheckpointError,
     r"no checkpoint at /nonexistent.safetensors"),
    ("unknown backbone", lambda: cg.EnergyDiffusion(2, backbone="cnn"), ValueError,
     r"backbone must be 'mlp', 'temporal_unet' or 'unet2d'"),
]


@pytest.mark.parametrize("what, call, exception, message", API, ids=[row[0] for row in API])
def test_the_api_names_the_bad_argument(what, call, exception, message):
    with pytest.raises(exception, match=message):
        call()


def _corrupt(tmp_path):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(b"not a checkpoint")
    return str(path)


def _bad_problem(tmp_path):
    path = tmp_path / "problem.json"
    path.write_text(json.dumps({"tray": {"width": 1, "height": 1}, "objects": [], "constraints": []}))
    return str(path)


CLI = [  # (what, argv (a function of tmp_path where it needs files), message pattern)
    ("non-normalizable expression", ["sample", "ring & ~corner", "--components", "analytic", "--quiet"],
     r"ring & ~corner is not normalizable"),
    ("unknown component name", ["sample", "ring & nope", "--quiet"], r"unknown component 'nope'.*known"),
    ("bad --model", ["sample", "ring", "--model", "ring", "--quiet"], r"--model expects NAME=PATH"),
    ("missing checkpoint", ["sample", "ring", "--model", "r=/nope.safetensors", "--quiet"],
     r"no checkpoint at /nope.safetensors"),
    ("corrupt checkpoint", lambda tmp: ["sample", "ring", "--model", f"r={_corrupt(tmp)}", "--quiet"],
     r"is not a readable safetensors file"),
    ("bad --set", ["sample", "ring", "--set", "levels", "--quiet"], r"--set expects KEY=VALUE"),
    ("unknown sampler setting", ["sample", "ring", "--set", "bogus=1", "--quiet"], r"has no setting 'bogus'"),
    ("n = 0", ["sample", "ring", "--n", "0", "--quiet"], r"n must be >= 1"),
    ("missing problem file", ["arrange", "/nonexistent.json", "--quiet"], r"/nonexistent.json: No such file"),
    ("invalid problem file", lambda tmp: ["arrange", _bad_problem(tmp), "--quiet"],
     r"objects: expected a non-empty list"),
    ("unreadable sentence", ["image", "a red thing", "--quiet"], r"cannot read 'a red thing'"),
    ("start in a wall", ["plan", "--start", "0", "0", "--quiet"], r"--start 0 0 is not a free cell of umaze"),
    ("missing layout file", ["tapestry", "/nonexistent.json", "--quiet"], r"/nonexistent.json"),
    ("benchmark over tracked results", ["bench", "arrangement", "--out", "benchmarks/results", "--quiet"],
     r"holds results that git tracks.*--force"),
]


@pytest.mark.parametrize("what, argv, message", CLI, ids=[row[0] for row in CLI])
def test_the_command_line_prints_one_error_line(what, argv, message, capsys, tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the repository, where results are tracked
    argv = argv(tmp_path) if callable(argv) else argv
    assert re.search(message, cli_error(capsys, argv))


def test_argparse_errors_exit_2_too(capsys):
    with pytest.raises(SystemExit) as exit_info:
        from compgen.cli import main

        main(["sample", "ring", "--sampler", "nope"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "error: argument --sampler: invalid choice" in err


def test_debug_shows_the_traceback():
    from compgen.cli import main

    with pytest.raises(cg.NotNormalizableError):
        main(["sample", "ring & ~corner", "--components", "analytic", "--quiet", "--debug"])


def test_ctrl_c_exits_130_with_one_line(capsys, monkeypatch):
    from compgen.cli import main
    from compgen.tasks.toy2d import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train", interrupted)  # registered anew by every parser
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--density", "ring", "--quiet"])
    assert exit_info.value.code == 130
    assert capsys.readouterr().err.startswith("error: interrupted")
