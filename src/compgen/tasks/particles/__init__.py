"""Interacting particles: an NRI-style simulator, relational potentials (a factor graph of learned
edge energies, after NIIP) and what the factorization allows at test time."""
