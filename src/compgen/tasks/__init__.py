"""Tasks built on the core: the 2D demo and proof suite (fidelity, data efficiency)."""
