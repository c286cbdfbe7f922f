"""Components discovered without labels: scenes decomposed by a product of K latent-conditioned
denoisers (after Decomp Diffusion), judged against the true object masks."""
