"""Analysis of neurotree models: phase plane, bifurcation, fast-slow analysis, slow points and
linearisation, and measures on records.

Every analyser takes a model (or any diffrax-style vector field) with the names of the variables
and parameters to analyse, and works through `vector_field` and JAX autodiff.
"""

from ._bifurcation import (
    Bifurcation as Bifurcation,
    BifurcationPoints as BifurcationPoints,
    BifurcationResult as BifurcationResult,
    LimitCycles as LimitCycles,
)
from ._fast_slow import FastSlowBifurcation as FastSlowBifurcation, FastSlowResult as FastSlowResult
from ._fixed_points import (
    FixedPoints as FixedPoints,
    classify as classify,
    fixed_points as fixed_points,
)
from ._measures import (
    cross_correlation as cross_correlation,
    fano_factor as fano_factor,
    firing_rate as firing_rate,
    isi_cv as isi_cv,
    power_spectrum as power_spectrum,
    synchrony_index as synchrony_index,
)
from ._model import VectorField as VectorField
from ._phase_plane import (
    PhasePlane as PhasePlane,
    PhasePlaneResult as PhasePlaneResult,
    Trajectories as Trajectories,
)
from ._slow_points import SlowPointFinder as SlowPointFinder, SlowPoints as SlowPoints
