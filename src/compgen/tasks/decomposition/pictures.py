"""Scene pictures as PNG files: read one as a model input, write one or a row of samples."""

from __future__ import annotations

import os

import numpy as np

from compgen.files import atomic_path


def read_png(path: str | os.PathLike, size: int) -> np.ndarray:
    """(3, size, size) float32 in [0, 1] from an RGB or RGBA PNG of exactly size x size pixels."""
    import matplotlib.image

    pixels = np.asarray(matplotlib.image.imread(os.fspath(path)))
    if pixels.dtype.kind == "u":  # 8-bit PNGs come back as integers from some readers
        pixels = pixels / 255
    if pixels.ndim != 3 or pixels.shape[:2] != (size, size) or pixels.shape[2] not in (3, 4):
        raise ValueError(f"{path}: expected a {size} x {size} RGB image, got an array of shape "
                         f"{pixels.shape}")
    return np.ascontiguousarray(pixels[:, :, :3].transpose(2, 0, 1), dtype=np.float32)


def write_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write one (3, S, S) image in [0, 1] at its own size, atomically."""
    import matplotlib.image

    with atomic_path(path) as tmp:
        matplotlib.image.imsave(tmp, np.clip(image.transpose(1, 2, 0), 0, 1))


def write_grid(images: np.ndarray, path: str | os.PathLike, scale: int = 4) -> None:
    """Write (N, 3, S, S) images side by side, each pixel ``scale`` x ``scale``, atomically."""
    row = np.concatenate([np.pad(i, ((0, 0), (1, 1), (1, 1)), constant_values=1) for i in images], axis=2)
    write_png(row.repeat(scale, 1).repeat(scale, 2), path)
