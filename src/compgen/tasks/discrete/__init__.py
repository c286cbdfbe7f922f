"""Discrete composition: autoregressive language models composed by MH, and sampler mixing on
RBM and Ising energies."""
