"""compgen: compose small generative models into new distributions and sample them correctly.

>>> import torch, compgen as cg
>>> a = cg.GaussianMixture(means=torch.tensor([[0., 1.], [0., -1.]]), stds=0.1)
>>> b = cg.GaussianMixture(means=torch.tensor([[1., 0.], [0., 1.]]), stds=0.2)
>>> x = cg.sample(a & b, n=100, sampler="hmc", generator=torch.Generator().manual_seed(0)).x
"""

from compgen import data, metrics, samplers
from compgen.algebra import (
    Component,
    Conditioned,
    DiscreteComponent,
    EnergyRequiredError,
    FactorGraph,
    Mixture,
    Power,
    Product,
    mixture,
    negate,
)
from compgen.algebra.normalizer import (
    LogNormalizer,
    Normalized,
    NotNormalizableError,
    log_normalizer,
    normalized,
)
from compgen.checkpoint import CheckpointError, load, save
from compgen.models import (
    RBM,
    AutoregressiveModel,
    EnergyDiffusion,
    EnergyTable,
    GaussianMixture,
    Ising,
    Potts,
    ScoreDiffusion,
)
from compgen.samplers import NonFiniteError, SampleResult, sample
from compgen.schedule import DEFAULT_SCHEDULE, VPSchedule
from compgen.training import train

__version__ = "0.1.0"

__all__ = [
    "AutoregressiveModel", "CheckpointError", "Component", "Conditioned",
    "DEFAULT_SCHEDULE", "DiscreteComponent", "EnergyDiffusion", "EnergyRequiredError", "EnergyTable",
    "FactorGraph", "LogNormalizer", "Normalized", "NotNormalizableError", "log_normalizer", "normalized",
    "GaussianMixture", "Ising", "Mixture", "NonFiniteError", "Potts", "Power", "Product", "RBM", "data",
    "SampleResult", "ScoreDiffusion", "VPSchedule", "load", "metrics", "mixture", "negate",
    "sample", "samplers", "save", "train",
]
