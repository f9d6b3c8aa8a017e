"""Phase-plane plot of an `nt.analysis.PhasePlane` result."""

import numpy as np

from ._records import _pyplot

# Marker style per kind of fixed point: filled for stable, open for unstable.
_MARKERS = {
    "stable": dict(marker="o", facecolors="k", edgecolors="k"),
    "unstable": dict(marker="o", facecolors="w", edgecolors="k"),
    "saddle": dict(marker="X", facecolors="w", edgecolors="k"),
    "centre": dict(marker="D", facecolors="w", edgecolors="k"),
    "degenerate": dict(marker="s", facecolors="0.6", edgecolors="k"),
}


def _style(kind: str) -> dict:
    for prefix, style in _MARKERS.items():
        if kind.startswith(prefix):
            return style
    return _MARKERS["degenerate"]


def fixed_point_markers(ax, x: np.ndarray, kinds, **kwargs) -> None:
    """Scatter fixed points x (k, 2) (or (k,) on the horizontal axis) with one legend entry per
    kind."""
    for kind in dict.fromkeys(kinds):
        rows = [i for i, k in enumerate(kinds) if k == kind]
        pts = x[rows]
        xs, ys = (pts[:, 0], pts[:, 1]) if pts.ndim == 2 else (pts, np.zeros(len(pts)))
        ax.scatter(xs, ys, s=60, zorder=5, linewidths=1.2, label=kind, **_style(kind), **kwargs)


def phase_plane(result, ax=None, *, streamlines: bool = True):
    """Plot an `nt.analysis.PhasePlaneResult`: the flow (stream lines, grey), the nullclines,
    the trajectories (black) and the fixed points (filled: stable; open: unstable; cross:
    saddle). For one variable, dx/dt against x with its zeros. Returns the axes."""
    if ax is None:
        ax = _pyplot("phase_plane").subplots()[1]
    names, ranges = result.variables, result.ranges
    fp = result.fixed_points
    if len(names) == 1:
        ax.plot(result.axes[0], result.flow[0], "C0-", lw=1.5, label=f"d{names[0]}/dt")
        ax.axhline(0.0, color="0.5", lw=0.8)
        fixed_point_markers(ax, fp.x[:, 0], fp.kind)
        ax.set(xlabel=names[0], ylabel=f"d{names[0]}/dt", xlim=tuple(ranges[0]))
        ax.legend(frameon=False, fontsize="small")
        return ax
    from matplotlib.collections import LineCollection

    if streamlines:
        ax.streamplot(
            result.axes[0], result.axes[1], result.flow[0].T, result.flow[1].T,
            color="0.75", density=1.0, linewidth=0.6, arrowsize=0.8,
        )  # fmt: skip
    for i, segments in enumerate(result.nullclines):
        lines = LineCollection(
            segments, colors=f"C{i}", linewidths=1.8, label=f"d{names[i]}/dt = 0"
        )
        ax.add_collection(lines)
    if result.trajectories is not None:
        for j, path in enumerate(result.trajectories.x):
            ax.plot(path[:, 0], path[:, 1], "k-", lw=1.0, label="trajectory" if j == 0 else None)
    fixed_point_markers(ax, fp.x, fp.kind)
    ax.set(xlabel=names[0], ylabel=names[1], xlim=tuple(ranges[0]), ylim=tuple(ranges[1]))
    ax.legend(frameon=False, fontsize="small", loc="best")
    return ax
