"""Raster and rate plots of records (time axis first, as `nt.simulate` returns them)."""

import numpy as np
from jaxtyping import ArrayLike, Shaped

_MISSING = (
    "nt.plot.{name} needs matplotlib, the optional `plot` extra: "
    "pip install 'neurotree[plot]' (or pip install matplotlib)."
)


def _pyplot(name: str):
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(_MISSING.format(name=name)) from error
    return plt


def _times(name: str, n_steps: int, dt, t0) -> np.ndarray:
    if isinstance(dt, bool) or not isinstance(dt, int | float | np.number) or not dt > 0:
        raise ValueError(f"nt.plot.{name}(dt={dt!r}): dt must be a positive step in ms.")
    return float(t0) + (np.arange(n_steps) + 1) * float(dt)


def raster(spikes: Shaped[ArrayLike, " T *n"], *, dt: float, t0: float = 0.0, ax=None, **kwargs):
    """Spike raster: a mark at (time, neuron) for every nonzero entry of `spikes` (T, n).

    Row i of the record is the state after step i + 1, at t0 + (i + 1) dt ms, as `nt.simulate`
    records it. `kwargs` go to `ax.scatter` (default: small black vertical ticks). Returns the
    axes (a new figure's if `ax` is None)."""
    spikes = np.asarray(spikes)
    if spikes.ndim != 2 or spikes.shape[0] < 1:
        raise ValueError(
            f"nt.plot.raster: spikes of shape {spikes.shape}; expected (T, n) (select one batch "
            "element, e.g. spikes[:, 0])."
        )
    t = _times("raster", spikes.shape[0], dt, t0)
    step, neuron = np.nonzero(spikes)
    if ax is None:
        ax = _pyplot("raster").subplots()[1]
    defaults = dict(marker="|", s=4.0, linewidths=0.8)
    if "c" not in kwargs and "color" not in kwargs:
        defaults["c"] = "k"
    kwargs = dict(defaults, **kwargs)
    ax.scatter(t[step], neuron, **kwargs)
    ax.set(xlabel="time (ms)", ylabel="neuron", xlim=(float(t0), float(t[-1])),
           ylim=(-0.5, spikes.shape[1] - 0.5))  # fmt: skip
    return ax


def rates(
    rate: Shaped[ArrayLike, " T *k"], *, dt: float, t0: float = 0.0, ax=None, labels=None,
    **kwargs,
):  # fmt: skip
    """Rate traces: `rate` (T,) or (T, k), in Hz (e.g. `nt.analysis.firing_rate`), against time
    t0 + (i + 1) dt ms; one line per column, labelled by `labels` (k names) if given. `kwargs` go
    to `ax.plot`. Returns the axes."""
    rate = np.asarray(rate)
    if rate.ndim not in (1, 2) or rate.shape[0] < 1:
        raise ValueError(f"nt.plot.rates: rate of shape {rate.shape}; expected (T,) or (T, k).")
    columns = rate.reshape(rate.shape[0], -1)
    if labels is not None and len(labels) != columns.shape[1]:
        raise ValueError(f"nt.plot.rates: {len(labels)} labels for {columns.shape[1]} rate traces.")
    t = _times("rates", rate.shape[0], dt, t0)
    if ax is None:
        ax = _pyplot("rates").subplots()[1]
    for j in range(columns.shape[1]):
        ax.plot(t, columns[:, j], label=None if labels is None else labels[j], **kwargs)
    if labels is not None:
        ax.legend(frameon=False)
    ax.set(xlabel="time (ms)", ylabel="rate (Hz)")
    return ax
