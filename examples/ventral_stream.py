"""Ventral stream: a stimulus into V1 spreads up V1 -> V2 -> V4 -> TEO -> TEpd.

`nt.zoo.VentralStream`: five nested E/I networks of Hodgkin-Huxley-type neurons (BrainPy's
multi-area model, Wang et al. 2023), joined feedforward with a 3 ms delay per hop. The network
starts at rest; a current into the E neurons of V1 (different for each neuron) makes V1 fire,
and each area above starts after the one below it. Prints the first-spike latency of every
area and saves a raster per area.

    python examples/ventral_stream.py [--small] [--out examples/out]
"""

import argparse
import pathlib

import jax
import numpy as np

import neurotree as nt
from neurotree.zoo import VentralStream

DT = 0.1


def spikes_by_area(state, outputs):
    return {area: (out["E"], out["I"]) for area, out in outputs.items()}


def main(small: bool = False, out: str = "examples/out") -> dict:
    scale, duration = (0.05, 80.0) if small else (0.25, 200.0)
    t_on, t_off = 10.0, duration - 20.0
    model = VentralStream(scale)
    n_e = model.populations["V1"].populations["E"].size[0]
    drive = np.random.default_rng(0).uniform(1.0, 3.0, n_e)  # uA/cm^2
    stimulus = {"V1.E": nt.inputs.Section([np.zeros(n_e), drive], [t_on, t_off - t_on])}
    _, spikes = nt.simulate(model, model.init_state(dt=DT), stimulus, dt=DT, duration=duration,
                            monitor=spikes_by_area, key=jax.random.key(0))  # fmt: skip
    spikes = jax.tree.map(np.asarray, spikes)
    t = (np.arange(round(duration / DT)) + 1) * DT  # spikes[n]: emitted in step n
    latency, rates = {}, {}
    print(
        f"{'area':>5} {'first spike (ms after onset)':>29} {'E rate (Hz)':>12} {'I rate (Hz)':>12}"
    )
    for area in model.area_names:
        e, i = spikes[area]
        fired = np.flatnonzero(e.any(1))
        latency[area] = float(t[fired[0]] - t_on) if len(fired) else float("nan")
        on = (t > t_on) & (t <= t_off)
        rates[area] = (1000 * e[on].mean() / DT, 1000 * i[on].mean() / DT)
        print(f"{area:>5} {latency[area]:29.1f} {rates[area][0]:12.1f} {rates[area][1]:12.1f}")

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    areas = model.area_names
    fig, axes = plt.subplots(len(areas), 1, figsize=(7, 7), sharex=True, layout="constrained")
    for ax, area in zip(axes, reversed(areas)):
        e, i = spikes[area]
        for x, color, offset in ((e, "C0", 0), (i, "C3", e.shape[1])):
            step, neuron = np.nonzero(x)
            ax.plot(t[step], neuron + offset, ".", ms=1, color=color)
        ax.axvspan(t_on, t_off, color="0.93", zorder=0)
        ax.set(ylabel=area, yticks=[], ylim=(0, e.shape[1] + i.shape[1]))
    axes[0].set_title("VentralStream raster (blue E, red I; grey: current into V1.E)")
    axes[-1].set_xlabel("time (ms)")
    fig.savefig(path / "ventral_stream.png", dpi=120)
    plt.close(fig)
    return dict(latency=latency, rates=rates, areas=areas)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="smaller areas, shorter run")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
