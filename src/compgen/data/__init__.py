"""Data generators: named analytic 2D densities."""

from compgen.data import toy2d

__all__ = ["toy2d"]
