"""Models that checkpoint: configs captured from constructor arguments, classes found by name.

A class that derives from :class:`Checkpointable` registers under its name when it is defined,
and every instance remembers the arguments it was built with, so ``compgen.checkpoint`` saves
``{"kind": name, **arguments}`` beside the tensors and rebuilds the model with the same call,
without knowing any model class. A new model kind needs nothing but the base class.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, ClassVar

from torch import Tensor

from compgen.schedule import VPSchedule

MODELS: dict[str, type] = {}


class Checkpointable:
    """Mixin of models that :func:`compgen.save` writes and :func:`compgen.load` reads.

    Attributes:
        tensor_arguments: constructor arguments stored as tensors in the file rather than in
            the JSON config (``checkpoint_tensors`` returns them); networks have none and store
            their ``state_dict``.
    """

    tensor_arguments: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        MODELS[cls.__name__] = cls
        if "__init__" in cls.__dict__:
            cls.__init__ = _capturing(cls.__dict__["__init__"])

    def config(self) -> dict:
        """``{"kind": class name, **constructor arguments}``, JSON-ready (schedules as dicts)."""
        arguments = {k: v for k, v in self._arguments.items() if k not in self.tensor_arguments}
        return {"kind": type(self).__name__, **{k: _to_json(k, v) for k, v in arguments.items()}}

    def checkpoint_tensors(self) -> dict[str, Tensor]:
        """The tensors a checkpoint stores: the state dict, or the ``tensor_arguments``."""
        return {k: v.contiguous() for k, v in self.state_dict().items()}


def _capturing(init):
    """Wrap ``__init__`` to record its arguments, defaults filled in. Each class's constructor
    adds its own named parameters, the outermost first, so a subclass forwarding ``*args,
    **kwargs`` to its parent is recorded under the parent's parameter names."""
    signature = inspect.signature(init)
    named = [p.name for p in list(signature.parameters.values())[1:]
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

    @functools.wraps(init)
    def capturing(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        recorded = self.__dict__.setdefault("_arguments", {})
        for name in named:
            recorded.setdefault(name, bound.arguments[name])
        init(self, *args, **kwargs)

    return capturing


def _to_json(name: str, value: Any) -> Any:
    if isinstance(value, VPSchedule):
        return value.to_dict()
    if isinstance(value, Tensor) or not isinstance(value, str | int | float | bool | type(None)):
        raise TypeError(f"argument {name!r} of type {type(value).__name__} cannot go in a checkpoint "
                        "config; list it in tensor_arguments or pass a plain value")
    return value


def model_class(kind: str) -> type:
    """The registered class named ``kind``; KeyError names the known ones."""
    import compgen.models  # noqa: F401  (defining the classes registers them)

    if kind not in MODELS:
        raise KeyError(f"unknown model kind {kind!r}; known: {sorted(MODELS)}")
    return MODELS[kind]
