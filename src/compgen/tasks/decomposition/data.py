"""Scenes for unsupervised decomposition: the shapes of :mod:`compgen.tasks.images.scenes` on a
tinted background, with the true object masks kept for evaluation only.

A scene is 1-3 objects (distinct places) on one of four flat backgrounds, the global factor a
decomposition should give its own component. Two data sets share shapes, places and
backgrounds but not colours, so that components of a model trained on each can be recombined
into scenes neither saw:

- ``"red-green"``: every object red or green;
- ``"blue-yellow"``: every object blue or yellow.

``"all"`` draws any colour (a held-out test set for the union). Backgrounds are dim (brightest
channel 0.3), so the detector, which counts pixels brighter than 0.5, still sees only objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compgen.tasks.images.scenes import COLOURS, PLACES, SHAPES, SceneObject, object_masks, render

BACKGROUNDS = {"black": (0.0, 0.0, 0.0), "grey": (0.3, 0.3, 0.3), "purple": (0.3, 0.0, 0.3),
               "teal": (0.0, 0.3, 0.3)}
DATASETS = {"red-green": ("red", "green"), "blue-yellow": ("blue", "yellow"), "all": tuple(COLOURS)}
MAX_OBJECTS = 3


@dataclass(frozen=True)
class Scene:
    """Objects and a background name; ``image`` and ``masks`` render it."""

    objects: tuple[SceneObject, ...]
    background: str

    @property
    def image(self) -> np.ndarray:
        """(3, SIZE, SIZE) in [0, 1]."""
        return render(list(self.objects), BACKGROUNDS[self.background])

    @property
    def masks(self) -> np.ndarray:
        """(len(objects), SIZE, SIZE) boolean, one per object."""
        return object_masks(list(self.objects))


def random_scene(rng: np.random.Generator, dataset: str, max_objects: int = MAX_OBJECTS) -> Scene:
    """1..max_objects objects of the data set's colours in distinct places, on a random background."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {list(DATASETS)}, got {dataset!r}")
    if not 1 <= max_objects <= len(PLACES):
        raise ValueError(f"max_objects must lie in 1..{len(PLACES)}, got {max_objects}")
    colours = DATASETS[dataset]
    n = int(rng.integers(1, max_objects + 1))
    objects = tuple(SceneObject(SHAPES[rng.integers(len(SHAPES))], colours[rng.integers(len(colours))],
                                int(place)) for place in rng.choice(len(PLACES), n, replace=False))
    return Scene(objects, list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))])


def make_scenes(n: int, dataset: str, seed: int = 0, max_objects: int = MAX_OBJECTS
                ) -> tuple[np.ndarray, list[Scene]]:
    """``n`` scenes of ``dataset`` and their (n, 3, SIZE, SIZE) float32 images."""
    rng = np.random.default_rng(seed)
    scenes = [random_scene(rng, dataset, max_objects) for _ in range(n)]
    return np.stack([s.image for s in scenes]), scenes
