"""Components hosted on other processes or machines, as Ray actors.

A component is a pure function of ``(x, t, cond)``, so it can be evaluated anywhere. ``remote``
loads a checkpoint inside a Ray actor (a worker process of a local or multi-machine cluster) and
returns a :class:`RemoteComponent`, which composes with ``&``, ``|``, ``~``, ``**`` like a local
one. Each evaluation is one call carrying all chains, energy and score together; a product
submits every factor before it waits for any (:meth:`compgen.Component.submit`), so K remote
factors cost about one round trip, not K.

Only safetensors checkpoints cross to the worker (a path it can read, or the bytes of one); the
arrays travel as NumPy buffers in Ray's transport. A worker that dies is restarted by Ray and the
call is retried (after 0.5, 1, 2, ... s); a worker that does not answer within ``timeout`` seconds
is killed (and so restarted) and retried; after ``retries`` failed retries the call raises
:class:`compgen.EvaluationError`, which the samplers re-raise with the noise level and step.

    ray.init()                                   # or ray.init(address="auto") on a cluster
    q = cg.remote(bars_h) & cg.remote(bars_v)    # two worker processes
    x = cg.sample(q, 2000, "mala").x             # same samples as the local product
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from compgen.algebra.component import Component, Condition, EvaluationError, Pending
from compgen.schedule import VPSchedule

NAMESPACE = "compgen"
"""The Ray namespace of named components (``compgen serve``, :func:`remote_ref`)."""


def _ray():
    try:
        import ray
    except ImportError as err:
        raise ImportError("remote components need Ray: pip install -e '.[remote]'") from err
    return ray


class ComponentServer:
    """The worker side (a Ray actor): one checkpointed model, evaluated on request."""

    def __init__(self, source: bytes | str, threads: int = 1):
        from compgen.checkpoint import load, loads

        torch.set_num_threads(threads)  # as many as the actor's CPUs: same arithmetic as the caller's
        self.model = loads(source) if isinstance(source, bytes) else load(source)
        if self.model.num_categories is not None:
            raise ValueError(f"remote components are continuous; {self.model!r} is discrete")

    def describe(self) -> dict[str, Any]:
        m = self.model
        return {"name": repr(m), "dim": m.dim, "has_energy": m.has_energy, "exact": m.exact,
                "t_min": m.t_min, "normalized": m.normalized, "batches_conditions": m.batches_conditions,
                "schedule": m.schedule.to_dict(), "conditional": getattr(m, "conditional", False)}

    def energy_and_score(self, x: np.ndarray, t: float | np.ndarray, cond: Any
                         ) -> tuple[np.ndarray | None, np.ndarray]:
        t = torch.tensor(t) if isinstance(t, np.ndarray) else t  # copies: Ray's arrays are read-only
        cond = torch.tensor(cond) if isinstance(cond, np.ndarray) else cond
        kwargs = {} if cond is None else {"cond": cond}
        with torch.no_grad():  # energy models take their gradient under enable_grad themselves
            energy, score = self.model.energy_and_score(torch.tensor(x), t, **kwargs)
        return (None if energy is None else energy.detach().numpy()), score.detach().numpy()

    def pid(self) -> int:
        return os.getpid()


class RemoteComponent(Component):
    """A component evaluated by a Ray actor (:class:`ComponentServer`); see :func:`remote`.

    Attributes:
        actor: the Ray actor handle.
        timeout: seconds to wait for one evaluation before the worker counts as failed.
        retries: failed attempts retried before :class:`compgen.EvaluationError` is raised.
    """

    def __init__(self, actor, timeout: float | None = 60.0, retries: int = 3, source=None):
        if retries < 0 or (timeout is not None and timeout <= 0):
            raise ValueError(f"retries must be >= 0 and timeout positive or None, got {retries}, {timeout}")
        # source: the checkpoint's object ref, held so that a restarted worker can reload it
        self.actor, self.timeout, self.retries, self.source = actor, timeout, retries, source
        info = self._get(actor.describe.remote(), "describe")
        self.name = info["name"]
        self.dim, self.has_energy, self.exact = info["dim"], info["has_energy"], info["exact"]
        self.t_min, self.normalized = info["t_min"], info["normalized"]
        self.batches_conditions, self.conditional = info["batches_conditions"], info["conditional"]
        self.schedule = VPSchedule(**info["schedule"])

    def given(self, condition: Tensor | int):
        """This remote model with a fixed condition: p(x | condition)."""
        from compgen.algebra.compose import Conditioned

        if not self.conditional:
            raise ValueError(f"{self!r} is unconditional; it takes no condition")
        return Conditioned(self, condition)

    def submit(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Pending:
        self._check_x(x)
        request = (x.detach().numpy(), t.numpy() if isinstance(t, Tensor) else float(t),
                   cond.numpy() if isinstance(cond, Tensor) else cond)
        ref = self.actor.energy_and_score.remote(*request)

        def wait() -> tuple[Tensor | None, Tensor]:
            energy, score = self._get(ref, "energy_and_score", request)
            return (None if energy is None else torch.tensor(energy)), torch.tensor(score)

        return wait

    def energy_and_score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None
                         ) -> tuple[Tensor | None, Tensor]:
        return self.submit(x, t, cond)()

    def energy(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        energy, _ = self.energy_and_score(x, t, cond)
        if energy is None:
            self.require_energy("energy")
        return energy

    def score(self, x: Tensor, t: float | Tensor = 0.0, cond: Condition = None) -> Tensor:
        return self.energy_and_score(x, t, cond)[1]

    def worker_pid(self) -> int:
        """The process id of the worker (tests kill it)."""
        return self._get(self.actor.pid.remote(), "pid")

    def _get(self, ref, method: str, request: tuple | None = None):
        """The result of ``ref``; a dead or silent worker is retried up to ``retries`` times."""
        ray = _ray()
        for attempt in range(self.retries + 1):
            try:
                return ray.get(ref, timeout=self.timeout)
            except ray.exceptions.GetTimeoutError:
                failure = f"no answer within {self.timeout:g} s"
                ray.kill(self.actor, no_restart=False)  # a silent worker counts as dead: restart it
            except ray.exceptions.RayActorError as err:
                failure = f"the worker died ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
            if attempt < self.retries:
                time.sleep(min(0.5 * 2**attempt, 8.0))  # give Ray time to bring the worker back
                ref = getattr(self.actor, method).remote(*(request or ()))
        name = getattr(self, "name", "a remote component")
        raise EvaluationError(f"{name} (remote): {self.retries + 1} attempts failed, the last: {failure}")

    def __repr__(self) -> str:
        return f"remote({self.name})"


def remote(model: Component | bytes | str | os.PathLike, *, num_cpus: float = 1, name: str | None = None,
           detached: bool = False, timeout: float | None = 60.0, retries: int = 3,
           max_restarts: int = 3) -> RemoteComponent:
    """Host ``model`` in a new Ray actor and return it as a component.

    Args:
        model: a checkpointable model (sent as the bytes of its safetensors checkpoint), the bytes
            of one, or the path of a checkpoint file on the worker's machine.
        num_cpus: CPUs Ray reserves for the worker; it runs that many torch threads.
        name: register the actor under this name in the ``compgen`` namespace, so another process
            can :func:`remote_ref` it; with ``detached`` it outlives this process.
        timeout: seconds one evaluation may take before the worker counts as failed.
        retries: failed evaluations retried (the worker is restarted by Ray in between).
        max_restarts: how often Ray restarts a dead worker.

    Starts a local Ray cluster if none is running (``ray.init()``).
    """
    from compgen.checkpoint import dumps

    ray = _ray()
    if isinstance(model, Component):
        source: bytes | str = dumps(model)
    elif isinstance(model, bytes | str | os.PathLike):
        source = model if isinstance(model, bytes) else str(Path(model))
    else:
        raise TypeError(f"remote: expected a model, checkpoint bytes or a path, got {type(model).__name__}")
    if not ray.is_initialized():
        ray.init(log_to_driver=False)
    options = {"num_cpus": num_cpus, "max_restarts": max_restarts, "max_task_retries": 0}
    if name is not None:
        options |= {"name": name, "namespace": NAMESPACE, "lifetime": "detached" if detached else None}
    source_ref = ray.put(source)
    actor = ray.remote(ComponentServer).options(**options).remote(source_ref, max(1, int(num_cpus)))
    return RemoteComponent(actor, timeout=timeout, retries=retries, source=source_ref)


def remote_ref(name: str, *, timeout: float | None = 60.0, retries: int = 3) -> RemoteComponent:
    """The component another process hosts under ``name`` (``compgen serve``, ``remote(name=)``)."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address="auto", log_to_driver=False)
    try:
        actor = ray.get_actor(name, namespace=NAMESPACE)
    except ValueError as err:
        raise ValueError(f"no remote component named {name!r} on this cluster") from err
    return RemoteComponent(actor, timeout=timeout, retries=retries)
