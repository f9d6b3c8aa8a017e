"""Plots of records and analyses (matplotlib, the optional `plot` extra; imported on first use)."""

from ._bifurcation import bifurcation as bifurcation, fast_slow as fast_slow
from ._phase_plane import phase_plane as phase_plane
from ._records import raster as raster, rates as rates
from ._slow_points import slow_points as slow_points
