"""The speed suite: chain-steps per second of compgen's samplers against blackjax and against
the same kernels written by hand in eager PyTorch, the share of time spent outside the model
evaluations, cost against the number of factors of one network, and peak memory."""
