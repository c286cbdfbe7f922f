"""compgen: compose small generative models into new distributions and sample them correctly.

>>> import torch, compgen as cg
>>> a = cg.GaussianMixture(means=torch.tensor([[0., 1.], [0., -1.]]), stds=0.1)
>>> b = cg.GaussianMixture(means=torch.tensor([[1., 0.], [0., 1.]]), stds=0.2)
>>> x = cg.sample(a & b, n=100, sampler="hmc", generator=torch.Generator().manual_seed(0)).x

The names below are imported on first use (PEP 562), so ``import compgen`` costs milliseconds
and a command such as ``python -m compgen --help`` never waits for PyTorch to import.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it (a module itself for data, metrics, samplers)
_EXPORTS = {
    **dict.fromkeys(["Component", "Conditioned", "DiscreteComponent", "EnergyRequiredError",
                     "EvaluationError", "FactorGraph", "Mixture", "Power", "Product", "WeightedScore",
                     "mixture", "negate"],
                    "compgen.algebra"),
    **dict.fromkeys(["LogNormalizer", "Normalized", "NotNormalizableError", "log_normalizer", "normalized"],
                    "compgen.algebra.normalizer"),
    **dict.fromkeys(["CheckpointError", "load", "save"], "compgen.checkpoint"),
    **dict.fromkeys(["RBM", "AutoregressiveModel", "EnergyDiffusion", "EnergyTable", "GaussianMixture",
                     "Ising", "Potts", "ScoreDiffusion"], "compgen.models"),
    **dict.fromkeys(["RemoteComponent", "remote", "remote_ref"], "compgen.distributed"),
    **dict.fromkeys(["NonFiniteError", "SampleResult", "sample"], "compgen.samplers"),
    **dict.fromkeys(["DEFAULT_SCHEDULE", "VPSchedule"], "compgen.schedule"),
    **dict.fromkeys(["train", "train_federated"], "compgen.training"),
    "data": "compgen.data", "metrics": "compgen.metrics", "samplers": "compgen.samplers",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        if importlib.util.find_spec(f"compgen.{name}") is None:
            raise AttributeError(f"module 'compgen' has no attribute {name!r}")
        return importlib.import_module(f"compgen.{name}")  # a submodule, e.g. cg.expression
    module = importlib.import_module(_EXPORTS[name])
    value = module if module.__name__ == f"compgen.{name}" else getattr(module, name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what static tools and IDEs see: the same names, imported eagerly
    from compgen import data, metrics, samplers  # noqa: F401
    from compgen.algebra import (  # noqa: F401
        Component,
        Conditioned,
        DiscreteComponent,
        EnergyRequiredError,
        EvaluationError,
        FactorGraph,
        Mixture,
        Power,
        Product,
        WeightedScore,
        mixture,
        negate,
    )
    from compgen.algebra.normalizer import (  # noqa: F401
        LogNormalizer,
        Normalized,
        NotNormalizableError,
        log_normalizer,
        normalized,
    )
    from compgen.checkpoint import CheckpointError, load, save  # noqa: F401
    from compgen.distributed import RemoteComponent, remote, remote_ref  # noqa: F401
    from compgen.models import (  # noqa: F401
        RBM,
        AutoregressiveModel,
        EnergyDiffusion,
        EnergyTable,
        GaussianMixture,
        Ising,
        Potts,
        ScoreDiffusion,
    )
    from compgen.samplers import NonFiniteError, SampleResult, sample  # noqa: F401
    from compgen.schedule import DEFAULT_SCHEDULE, VPSchedule  # noqa: F401
    from compgen.training import train, train_federated  # noqa: F401
