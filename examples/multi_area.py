"""Multi-area network: a pulse into the lowest area travels up a (synthetic) cortical hierarchy.

`nt.zoo.MultiArea` after Joglekar et al. (2018): E/I LIF areas on a line, joined by long-range
excitation whose strength falls with distance and whose delay is distance / 3.5 m/s. A 15 mV
current pulse into the E neurons of A0 raises the rates of the areas above it one after the
other; with weak global balanced amplification (GBA) the response fades from area to area,
with strong GBA it reaches further. Prints each area's rate and response onset, saves the
population rates.

    python examples/multi_area.py [--small] [--out examples/out]
"""

import argparse
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import neurotree as nt
from neurotree.zoo import MultiArea

DT = 0.1


def area_e_counts(state, outputs):
    """E spikes of every area this step; areas sorted by name are in hierarchy order."""
    return jnp.stack([outputs[name]["E"].sum() for name in sorted(outputs)])


def area_rates(model, key, t_on, t_off, duration):
    """E rate of every area (Hz), per step, for a 15 mV pulse into A0.E over [t_on, t_off)."""
    names = model.area_names
    n_e = model.populations[names[0]].populations["E"].size[0]
    pulse = {f"{names[0]}.E": nt.inputs.Section([0.0, 15.0], [t_on, t_off - t_on])}
    # A module-level monitor: the second model (same structure) reuses the compiled run.
    _, counts = nt.simulate(model, model.init_state(dt=DT), pulse, dt=DT, duration=duration,
                            monitor=area_e_counts, key=key)  # fmt: skip
    return np.asarray(counts) * 1000.0 / (n_e * DT)


def smooth(rates, width_ms=10.0):
    n = round(width_ms / DT)
    kernel = np.ones(n) / n
    return np.stack([np.convolve(r, kernel, mode="same") for r in rates.T], axis=1)


def main(small: bool = False, out: str = "examples/out") -> dict:
    n_areas, scale = (3, 0.1) if small else (6, 0.2)
    t_on, t_off, duration = (40.0, 140.0, 160.0) if small else (100.0, 250.0, 400.0)
    key = jax.random.key(0)
    t = (np.arange(round(duration / DT)) + 1) * DT  # rates[n] counts the spikes of step n
    result = {}
    for gba in ("weak", "strong"):
        model = MultiArea(scale, n_areas=n_areas, gba=gba)
        rates = area_rates(model, key, t_on, t_off, duration)
        base = rates[t < t_on].mean(0)
        during = rates[(t >= t_on + 30) & (t < t_off)].mean(0)
        # Onset: the smoothed rate first exceeds the baseline by half the mean response (NaN
        # for an area whose rate does not at least double, plus 2 Hz: no clear response).
        s = smooth(rates)
        onset = np.full(n_areas, np.nan)
        for k in range(n_areas):
            if during[k] < 2 * base[k] + 2.0:
                continue
            above = np.flatnonzero((t >= t_on) & (s[:, k] > base[k] + 0.5 * (during[k] - base[k])))
            onset[k] = t[above[0]] - t_on
        delay = np.asarray(model.distance)[0] / model.speed
        print(f"{gba} GBA ({n_areas} areas, {model.populations['A0'].populations['E'].size[0]} "
              f"E neurons each)")  # fmt: skip
        print(f"  {'area':>4} {'baseline Hz':>11} {'pulse Hz':>9} {'onset ms':>9} "
              f"{'delay from A0 ms':>17}")  # fmt: skip
        for k, name in enumerate(model.area_names):
            print(f"  {name:>4} {base[k]:11.1f} {during[k]:9.1f} {onset[k]:9.1f} {delay[k]:17.2f}")
        result[gba] = dict(rates=rates, baseline=base, during=during, onset=onset)
    result["names"] = model.area_names

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(7, 6), sharex=True, layout="constrained")
    colors = plt.cm.viridis(np.linspace(0, 0.9, n_areas))
    for ax, gba in zip(axes, ("weak", "strong")):
        s = smooth(result[gba]["rates"])
        for k, name in enumerate(result["names"]):
            ax.plot(t, s[:, k], color=colors[k], lw=1, label=name)
        ax.axvspan(t_on, t_off, color="0.9", zorder=0)
        ax.set(ylabel="E rate (Hz)", yscale="symlog", title=f"{gba} GBA")
    axes[0].legend(frameon=False, ncol=n_areas, fontsize=8)
    axes[-1].set_xlabel("time (ms); grey: 15 mV pulse into A0.E")
    fig.savefig(path / "multi_area.png", dpi=120)
    plt.close(fig)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer, smaller areas")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
