"""The 2D proof suite: analytic densities, learned 2D models, the demo, sampler fidelity and
data efficiency."""
