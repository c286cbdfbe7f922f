"""Where sampling time goes: a component wrapper that times its evaluations, and peak memory."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from torch import Tensor

from compgen.algebra.component import Component, Composition


def seconds_per_call(fn: Callable[[], object], calls: int) -> float:
    """The median wall time of ``calls`` calls of ``fn``, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Timed(Composition):
    """``component`` unchanged, with the wall time and the number of its evaluations recorded in
    ``seconds`` and ``calls`` (calls that another timed component's call makes count in both:
    wrap either leaves or the whole, not nested parts, to split a run's time)."""

    def __init__(self, component: Component):
        super().__init__([component], "timed")
        self.component, self.seconds, self.calls = component, 0.0, 0
        self.batches_conditions = component.batches_conditions

    def __getattr__(self, name: str):  # the model's own attributes (null_condition, ...)
        if name == "component":
            raise AttributeError(name)
        return getattr(self.component, name)

    def _timed(self, method: str, *args, **kwargs):
        start = time.perf_counter()
        out = getattr(self.component, method)(*args, **kwargs)
        self.seconds, self.calls = self.seconds + time.perf_counter() - start, self.calls + 1
        return out

    def energy(self, *args, **kwargs) -> Tensor:
        return self._timed("energy", *args, **kwargs)

    def score(self, *args, **kwargs) -> Tensor:
        return self._timed("score", *args, **kwargs)

    def energy_and_score(self, *args, **kwargs) -> tuple[Tensor | None, Tensor]:
        return self._timed("energy_and_score", *args, **kwargs)

    def leaves(self) -> list[Component]:
        return self.component.leaves()

    def __repr__(self) -> str:
        return repr(self.component)


def reset_peak_memory() -> None:
    """Start a new peak of this process's resident memory (Linux: /proc/self/clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float:
    """The peak resident memory (MiB) since :func:`reset_peak_memory` (Linux: VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status: peak memory is measured on Linux only")
