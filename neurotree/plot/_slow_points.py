"""Fixed and slow points projected on their principal components, coloured by stability."""

import numpy as np

from ._records import _pyplot

_STYLE = {  # unstable directions -> (colour, marker, label)
    0: ("C0", "o", "stable"),
    1: ("C3", "X", "saddle (1 unstable direction)"),
}
_MANY = ("C1", "^", "unstable (2+ directions)")


def _principal_axes(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean of the rows of `x` and its top-`n` principal directions (n, d), each signed so
    that its largest-magnitude entry is positive."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    axes = np.zeros((n, x.shape[1]))
    axes[: min(n, len(vt))] = vt[:n]
    sign = np.sign(axes[np.arange(n), np.argmax(np.abs(axes), axis=1)])
    return mean, axes * np.where(sign == 0, 1.0, sign)[:, None]


def slow_points(result, *, ax=None, dims: int = 2, trajectories=None, tol: float = 0.0, **kwargs):
    """Plot the points a `nt.analysis.SlowPointFinder` kept, on their top `dims` (2 or 3) principal
    components, coloured by the number of unstable directions (`result.n_unstable(tol)`).

    `trajectories` (states, flat as `result.points`: (T, d) or (T, batch, d)) are drawn as grey
    lines in the same projection; the principal axes are then those of the points and the
    trajectories together (the points alone may not span `dims` directions). For dims = 3 the
    axes must be 3-D (`projection="3d"`); one is made if `ax` is None. `kwargs` go to
    `ax.scatter`. Returns the axes.
    """
    if dims not in (2, 3):
        raise ValueError(f"nt.plot.slow_points(dims={dims!r}): expected 2 or 3.")
    points = np.asarray(result.points)
    d = points.shape[1]
    lines = None
    if trajectories is not None:
        lines = np.asarray(trajectories)
        if lines.ndim not in (2, 3) or lines.shape[-1] != d:
            raise ValueError(
                f"nt.plot.slow_points: trajectories of shape {lines.shape}; expected (T, {d}) "
                f"or (T, batch, {d}), flat states like result.points."
            )
        lines = lines.reshape(lines.shape[0], -1, d)
    basis = points if lines is None else np.concatenate([points, lines.reshape(-1, d)])
    if len(basis) == 0:
        raise ValueError("nt.plot.slow_points: no points kept and no trajectories to plot.")
    mean, axes = _principal_axes(basis, dims)
    if ax is None:
        plt = _pyplot("slow_points")
        ax = plt.figure().add_subplot(projection="3d" if dims == 3 else None)
    elif dims == 3 and getattr(ax, "name", "") != "3d":
        raise ValueError("nt.plot.slow_points(dims=3): pass axes made with projection='3d'.")
    if lines is not None:
        for j in range(lines.shape[1]):
            ax.plot(*((lines[:, j] - mean) @ axes.T).T, color="0.7", lw=0.6, zorder=1)
    unstable = np.asarray(result.n_unstable(tol)) if len(points) else np.zeros(0, int)
    projected = (points - mean) @ axes.T
    for n in sorted(set(unstable.tolist())):
        colour, marker, label = _STYLE.get(n, _MANY)
        sel = unstable == n
        style = dict(dict(c=colour, marker=marker, s=30, label=label, zorder=3), **kwargs)
        ax.scatter(*projected[sel].T, **style)
    ax.set(xlabel="PC 1", ylabel="PC 2")
    if dims == 3:
        ax.set_zlabel("PC 3")
    if len(points):
        ax.legend(frameon=False, fontsize=8)
    return ax
