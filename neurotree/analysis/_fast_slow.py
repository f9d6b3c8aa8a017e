"""Fast-slow (Rinzel) analysis of bursting: the fast subsystem's bifurcations against the slow
variable, with the full trajectory overlaid."""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import equinox as eqx
import numpy as np
from jaxtyping import ArrayLike

from ._bifurcation import Bifurcation, BifurcationResult, LimitCycles, limit_cycle_extent
from ._model import VectorField
from ._phase_plane import Trajectories, integrate


@dataclasses.dataclass(frozen=True)
class FastSlowResult:
    """What `FastSlowBifurcation.analyse` computes, ready for `nt.plot.fast_slow`.

    `bifurcation` is the fast subsystem's diagram with the slow variable as its parameter
    (`bifurcation.cycles`: the periodic orbits' extent); `trajectory` is the full system's
    solution, over the fast variables then the slow one.
    """

    fast: tuple[str, ...]
    slow: str
    bifurcation: BifurcationResult
    trajectory: Trajectories


class FastSlowBifurcation(eqx.Module):
    """Rinzel's fast-slow dissection of a burster.

    The fast subsystem (`fast`: variables -> (low, high) ranges) is analysed with the slow
    variable (`slow`: one name -> a 1-D grid of its values) frozen as a parameter: its fixed
    points (for a burster, the S-shaped curve), their stability, the saddle-node knees and
    Hopf points (as in `nt.analysis.Bifurcation`), and the extent of the fast periodic orbits
    (spiking), simulated from next to every fixed point whose eigenvalues are all unstable
    (whether or not a stable fixed point coexists, as in the bistable range of a burster).
    The full system (fast and slow variables together, the rest held as in `fixed`) is then
    solved from `x0` (default: the state in `fixed`, else the model's rest state), and its
    trajectory overlaid: bursts are the slow variable sweeping across the bistable range.

    Reference: Rinzel (1987), A formal classification of bursting mechanisms in excitable
    systems, in Mathematical Topics in Population Biology, Morphogenesis and Neurosciences,
    Lecture Notes in Biomathematics 71, Springer, 267-281; Izhikevich (2000), Neural
    excitability, spiking and bursting, Int J Bifurcation Chaos 10:1171-1266.
    """

    bifurcation: Bifurcation
    full: VectorField
    slow: str = eqx.field(static=True)

    def __init__(
        self,
        target: Any,
        fast: Mapping[str, Any],
        slow: Mapping[str, Any],
        *,
        fixed: Mapping[str, Any] | None = None,
        state_names: Sequence[str] | None = None,
        n_starts: int | None = None,
    ):
        if not isinstance(slow, Mapping) or len(slow) != 1:
            raise ValueError(
                f"FastSlowBifurcation(slow={slow!r}): expected a dict of one slow variable to a "
                "1-D grid of its values, e.g. {'z': np.linspace(2.0, 4.5, 251)}."
            )
        self.bifurcation = Bifurcation(
            target, fast, slow, fixed=fixed, state_names=state_names, n_starts=n_starts
        )
        (self.slow,) = tuple(slow)
        if self.slow not in self.bifurcation.field.state_names:
            raise ValueError(
                f"FastSlowBifurcation(slow={self.slow!r}): the slow variable must be a state "
                f"variable, one of {self.bifurcation.field.state_names}."
            )
        fixed = {k: v for k, v in dict(fixed or {}).items() if k != self.slow}
        self.full = VectorField(target, (*fast, self.slow), fixed=fixed, state_names=state_names)

    def analyse(
        self,
        x0: ArrayLike | Sequence | None = None,
        duration: float = 2000.0,
        *,
        transient: float = 0.0,
        n_save: int = 4000,
        cycle_duration: float = 200.0,
        cycle_transient: float | None = None,
    ) -> FastSlowResult:
        """The fast subsystem's diagram (orbits from runs of `cycle_duration`) and the full
        trajectory over [`transient`, `duration`] from `x0` (fast variables, then slow)."""
        bif = self.bifurcation
        result = bif.analyse(cycles=False)
        unstable = np.all(result.eigenvalues.real > 0, axis=-1) & (result.kind != "")
        rows = np.flatnonzero(unstable.any(axis=-1))
        first = np.argmax(unstable[rows], axis=-1)
        starts = result.x[rows, first]
        p = bif.values[0][rows, None]
        x_min, x_max = limit_cycle_extent(
            bif.field, bif.ranges, starts.reshape(-1, bif.field.n), p, cycle_duration,
            cycle_transient, n_save,
        )  # fmt: skip
        cycles = LimitCycles(bif.field.parameters, bif.field.variables, p, x_min, x_max)
        result = dataclasses.replace(result, cycles=cycles)
        grid = bif.values[0]
        ranges = np.concatenate([bif.ranges, [[grid[0], grid[-1]]]])
        x0 = np.asarray(self.full.x0() if x0 is None else x0, np.float64).reshape(1, -1)
        if x0.shape[-1] != self.full.n:
            raise ValueError(
                f"FastSlowBifurcation.analyse: x0 has {x0.shape[-1]} values; expected "
                f"{self.full.n}, for {self.full.variables}."
            )
        p_full = np.zeros((1, 0))
        trajectory = integrate(
            self.full, ranges, x0, p_full, duration, t_start=transient, n_save=n_save
        )
        return FastSlowResult(self.bifurcation.field.variables, self.slow, result, trajectory)
