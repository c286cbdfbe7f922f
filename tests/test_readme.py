"""Every documented command is a test: the README's fenced blocks and the `--help` examples run
here, at small sizes where a flag allows, and what they print is checked.

A README command that is neither run here (``SIZES``) nor run elsewhere (``ELSEWHERE``) fails
``test_every_readme_command_is_covered``: a new example cannot land untested.
"""

import functools
import re
import shlex
import shutil
from pathlib import Path

import pytest

import compgen as cg
from compgen.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

# README command (its first words) -> (flags appended for a small run, what the output must show,
# slow). Flags given twice take the last value, so an appended --n wins over the README's.
SIZES = {
    "demo": (["--smoke"], r"\| product \| analytic \| hmc \|", False),
    "train": (["--steps", "20", "--samples", "200"], r"trained .* wrote ring\.safetensors", False),
    "sample": (["--n", "100", "--set", "levels=5"], r"exact-LL .* W2 .* \(noise floor", False),
    "discrete-demo": (["--smoke"], r"examples at length 24", False),
    "train-language": (["--steps", "5", "--samples", "20"], r"wrote balanced\.safetensors", False),
    "arrange-problem": ([], r"wrote p\.json: 4 objects", False),
    "arrange": ([], r"[1-9]\d* of 10 candidates solve it", False),  # the README says it solves it
    "plan": (["--candidates", "1", "--set", "levels=4", "--set", "steps=1"], r"normalized score", False),
    "maze-data": (["--steps", "200", "--episode-steps", "100"], r"medium: 2 x 100 steps", False),
    "train-maze": (["--steps", "2", "--width", "8", "--depth", "1"], r"wrote data/maze_models/medium_h16",
                   False),
    "image": (["--n", "1", "--set", "levels=3"], r"of 1 show exactly the requested objects", False),
    "tapestry": (["--n", "1", "--set", "levels=3"], r"of 1 canvases right in every window", False),
    "train-images": (["--steps", "2", "--scenes", "16"], r"wrote data/image_models/scenes_sentences", False),
    "particles-data": (["--n", "20"], r"wrote outputs/particles/springs\.npz: states \(20, 69, 5, 4\)",
                       False),
    "train-relations": (["--seconds", "1", "--train-sims", "30"], r"wrote data/particle_models/springs",
                        False),
    "bench fidelity": (["--n", "50", "--seeds", "1", "--analytic-seeds", "1"], r"\| product \|", True),
    "bench data-efficiency": (["--tasks", "product", "--seeds", "1", "--steps", "20"], r"\| product \|",
                              True),
    "bench languages": (["--n", "200", "--seeds", "1"], r"naive product", True),
    "bench discrete-mixing": (["--n", "20", "--seeds", "1"], r"GWG", True),
    "bench arrangement": (["--problems", "1"], r"compgen \(annealed MALA", True),
    "decomposition-scene": ([], r"wrote [ab]\.png: a ", False),
    "decompose": ([], r"component 3 \(\d+% of the pixels\)", False),
    "recombine": (["--samples", "1", "--set", "levels=3"], r"sample 0: .*\nwrote recombined\.png", False),
    "bench speed": (["--smoke", "--chains", "16", "--repeats", "1", "--dims", "2"],
                    r"\| 2 \| hmc \| .*\n(.|\n)*outside share", False),
}
# commands run by CI or by another test (with the models they need trained in smoke size)
ELSEWHERE = {
    "python3 -m venv": ".ci/run creates the environment and installs as the README says",
    ". .venv/bin/activate": ".ci/run (its own venv)",
    "pip install": ".ci/run",
    "python -m pytest": "this suite",
    "ruff check": ".ci/run",
    "bash .ci/run": "CI itself",
    "python benchmarks/startup.py": "test_startup_benchmark_script_runs, below",
    "bench robustness": "tests/test_robustness.py (the benchmark on a smoke-sized pool of factors)",
    "bench maze-planning": "tests/test_maze.py::test_maze_commands_train_plan_and_benchmark",
    "bench maze-efficiency": "tests/test_maze.py::test_maze_commands_train_plan_and_benchmark",
    "bench maze-factors": "tests/test_maze.py (the factor tasks in smoke size)",
    "ray start": "tests/test_distributed.py (a local Ray cluster started in-process)",
    "ray stop": "tests/test_distributed.py (the cluster stops with the test module)",
    "serve": "tests/test_distributed.py::test_compgen_serve_names_a_component_other_processes_find",
    "bench remote": "tests/test_distributed.py::test_the_remote_benchmark_runs_at_smoke_size",
    "bench relations": "tests/test_particles.py::test_the_relations_benchmark_runs_at_smoke_size",
    "bench relations-data": "tests/test_particles.py::test_the_data_efficiency_benchmark_runs_at_smoke_size",
    "bench discovery": "tests/test_decomposition.py::test_the_discovery_benchmark_runs_at_smoke_size",
    "bench recombination": "tests/test_decomposition.py::test_the_recombination_benchmark_runs_at_smoke_size",
    "bench concepts": "tests/test_decomposition.py::test_the_concepts_benchmark_runs_at_smoke_size",
    "bench silos": "tests/test_distributed.py::test_the_silos_benchmark_runs_at_smoke_size",
    "bench images": "tests/test_images.py (the benchmark's parts) and its JSON in benchmarks/results",
}


def readme_commands() -> list[list[str]]:
    """Each shell command of the README's bash blocks, as argv (comments dropped, `&&` split)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                commands.append(words[:cut])
                words = words[cut + 1:]
    return commands


def _key(argv: list[str]) -> str | None:
    """``train`` for ``python -m compgen train ...``, ``bench fidelity`` for a benchmark."""
    if argv[:3] != ["python", "-m", "compgen"]:
        return None
    rest = argv[3:]
    return " ".join(rest[:2]) if rest[0] == "bench" else rest[0]


def _elsewhere(argv: list[str]) -> bool:
    line = " ".join(argv)
    return any(line.startswith(prefix) or (_key(argv) == prefix) for prefix in ELSEWHERE)


def test_every_readme_command_is_covered():
    for argv in readme_commands():
        assert _key(argv) in SIZES or _elsewhere(argv), f"README command not tested: {' '.join(argv)}"


def _run_readme_commands(slow: bool, tmp_path, monkeypatch, capsys) -> int:
    monkeypatch.chdir(tmp_path)  # every relative path the README writes lands here
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    ran = 0
    for argv in readme_commands():
        key = _key(argv)
        if key not in SIZES or SIZES[key][2] != slow:
            continue
        flags, claim, _ = SIZES[key]
        capsys.readouterr()
        main(argv[3:] + flags + ["--quiet"])
        printed = "".join(capsys.readouterr())
        assert re.search(claim, printed), f"{' '.join(argv)} did not print /{claim}/:\n{printed[-2000:]}"
        ran += 1
    return ran


def test_readme_commands_run_and_print_what_they_claim(tmp_path, monkeypatch, capsys):
    assert _run_readme_commands(False, tmp_path, monkeypatch, capsys) >= 15


@pytest.mark.slow
def test_readme_benchmark_commands_run_at_small_sizes(tmp_path, monkeypatch, capsys):
    assert _run_readme_commands(True, tmp_path, monkeypatch, capsys) == 5


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    """The Quickstart's Python blocks, in order, in one namespace; ``cg.train`` at 50 steps (the
    README's ~1 CPU minute is the slow test's)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cg, "train", functools.partial(cg.train, steps=50, progress=False))
    _exec_python_blocks()


@pytest.mark.slow
def test_readme_python_blocks_run_at_full_size(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _exec_python_blocks()


def _exec_python_blocks() -> None:
    namespace: dict = {}
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    # the remote example needs served components: test_distributed.py runs it beside a cluster
    blocks = [b for b in blocks if "remote_ref" not in b]
    assert len(blocks) >= 2
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {i}", "exec"), namespace)
    assert namespace["x"].shape == (1000, 24)  # the discrete block's samples
    assert namespace["result"].x.shape == (1000, 2)


def test_help_examples_run(capsys):
    """The examples a `--help` text gives (sample's expressions) are ones that work."""
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    examples = set(re.findall(r"\"([^\"]+)\"", " ".join(capsys.readouterr().out.split())))
    assert examples == {"(bars_h & bars_v) | ring", "ring & corner ** -0.5"}
    for expression in examples:
        main(["sample", expression, "--components", "analytic", "--n", "100", "--set", "levels=5", "--quiet"])
        assert "W2" in capsys.readouterr().out


def test_startup_benchmark_script_runs(tmp_path):
    """The README's start-up benchmark, one run per case (its numbers are the script's, not ours)."""
    import json
    import subprocess
    import sys

    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "startup.py"), "--runs", "1", "--out",
                    str(tmp_path)], check=True, capture_output=True)
    result = json.loads((tmp_path / "startup.json").read_text())
    assert set(result["median_seconds"]) >= {"import compgen", "python -m compgen --help"}
    assert (tmp_path / "startup.png").stat().st_size > 5000
