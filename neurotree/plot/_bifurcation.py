"""Bifurcation diagrams of `nt.analysis.Bifurcation` and `FastSlowBifurcation` results."""

import numpy as np

from ._records import _pyplot

_COLOURS = {"stable": "k", "unstable": "C3", "saddle": "0.55"}


def _variable_index(result, variable) -> int:
    if variable is None:
        return 0
    if variable not in result.variables:
        raise ValueError(
            f"nt.plot.bifurcation(variable={variable!r}): expected one of {result.variables}."
        )
    return result.variables.index(variable)


def _group(kind: str) -> str:
    for name in ("stable", "saddle"):
        if kind.startswith(name):
            return name
    return "unstable"


def bifurcation(result, ax=None, *, variable: str | None = None):
    """Plot an `nt.analysis.BifurcationResult`.

    One parameter: the fixed points of `variable` (default the first) against the parameter,
    black where stable, red where unstable, grey for saddles; saddle-node (circles) and Hopf
    (squares) points; the limit cycles' min and max (blue). Two parameters: the number of stable
    fixed points as a background, with the saddle-node and Hopf curves. Returns the axes."""
    if ax is None:
        ax = _pyplot("bifurcation").subplots()[1]
    if len(result.parameters) == 2:
        return _codim2(result, ax)
    i = _variable_index(result, variable)
    p = result.values[0]
    groups = np.vectorize(_group, otypes=[str])(result.kind)
    for name, colour in _COLOURS.items():
        rows, slots = np.nonzero((groups == name) & (result.kind != ""))
        if len(rows):
            ax.scatter(p[rows], result.x[rows, slots, i], s=3, c=colour, lw=0, label=name)
    if result.cycles is not None and len(result.cycles.p):
        cp = result.cycles.p[:, 0]
        ax.plot(cp, result.cycles.x_max[:, i], "C0-", lw=1.5, label="limit cycle max / min")
        ax.plot(cp, result.cycles.x_min[:, i], "C0-", lw=1.5)
    _points(ax, result.saddle_nodes, lambda pt: (pt.p[:, 0], pt.x[:, i]), "o", "C2")
    _points(ax, result.hopf, lambda pt: (pt.p[:, 0], pt.x[:, i]), "s", "C1")
    ax.set(xlabel=result.parameters[0], ylabel=result.variables[i], xlim=(p[0], p[-1]))
    ax.legend(frameon=False, fontsize="small", markerscale=2)
    return ax


def _points(ax, points, coords, marker, colour) -> None:
    if len(points):
        x, y = coords(points)
        label = "saddle-node" if points.kind == "saddle-node" else "Hopf"
        ax.scatter(x, y, s=45, marker=marker, facecolors="none", edgecolors=colour, lw=1.5,
                   zorder=5, label=label)  # fmt: skip


def _codim2(result, ax):
    p1, p2 = result.values
    n_stable = np.char.startswith(result.kind.astype(str), "stable").sum(axis=-1)
    top = max(2, int(n_stable.max()))
    mesh = ax.pcolormesh(p1, p2, n_stable.T, cmap="Greys", vmin=0, vmax=top, alpha=0.35,
                         shading="nearest")  # fmt: skip
    ax.figure.colorbar(mesh, ax=ax, label="stable fixed points", ticks=range(top + 1))
    _points(ax, result.saddle_nodes, lambda pt: (pt.p[:, 0], pt.p[:, 1]), "o", "C2")
    _points(ax, result.hopf, lambda pt: (pt.p[:, 0], pt.p[:, 1]), "s", "C1")
    ax.set(xlabel=result.parameters[0], ylabel=result.parameters[1], xlim=(p1[0], p1[-1]),
           ylim=(p2[0], p2[-1]))  # fmt: skip
    if len(result.saddle_nodes) or len(result.hopf):
        ax.legend(frameon=False, fontsize="small")
    return ax


def fast_slow(result, ax=None, *, variable: str | None = None):
    """Plot an `nt.analysis.FastSlowResult`: the fast subsystem's bifurcation diagram against
    the slow variable (as `bifurcation`), with the full trajectory (slow, `variable`) overlaid.
    Returns the axes."""
    if ax is None:
        ax = _pyplot("fast_slow").subplots()[1]
    bif = result.bifurcation
    i = _variable_index(bif, variable)
    bifurcation(bif, ax, variable=bif.variables[i])
    path = result.trajectory.x[0]
    ax.plot(path[:, -1], path[:, i], "C4-", lw=0.7, alpha=0.8, label="trajectory")
    ax.set(xlabel=f"{result.slow} (slow)", ylabel=f"{bif.variables[i]} (fast)")
    ax.legend(frameon=False, fontsize="small", markerscale=2)
    return ax
