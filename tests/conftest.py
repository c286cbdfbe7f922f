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
