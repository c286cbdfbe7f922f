import pytest
import torch


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def z_tolerance(std: float, n: int, z: float = 4.5) -> float:
    """A z-score bound on the error of a mean of n independent draws with this std.

    z = 4.5 keeps the false-failure rate per check below 1e-5.
    """
    return z * std / n**0.5


# Small 2D models run fastest on one thread, and tests must not fight a benchmark for cores.
torch.set_num_threads(1)


def cli_error(capsys, argv: list[str]) -> str:
    """Run the command line on ``argv``, which must fail as a user error: exit status 2 and one
    line ``error: ...`` on stderr, no traceback. Returns the message after ``error: ``."""
    from compgen.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, (exit_info.value.code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) >= 1 and lines[-1].startswith("error: ") and "Traceback" not in err, err
    return lines[-1][len("error: "):]
