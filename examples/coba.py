"""COBA benchmark network (Vogels & Abbott 2005; Brette et al. 2007): raster and firing rates.

4000 LIF neurons (80% E, 20% I) with exponential conductances and a constant drive settle into
asynchronous irregular firing at about 20 Hz (Brian2: 20.3 Hz E, 20.9 Hz I; see
benchmarks/README.md).

    python examples/coba.py [--small] [--out examples/out]

`examples/cuba.py` and `examples/cobahh.py` run the other two benchmarks through `main` here.
"""

import argparse
import pathlib
import time

import numpy as np

import neurotree as nt
import neurotree.zoo  # noqa: F401

SHOWN = 400  # neurons in the raster: the first 80% of them E, the rest I


def run(model, duration: float) -> dict:
    """Simulate `model` (an E/I zoo network); spikes of SHOWN neurons and population rates."""
    n_e, n_i = (int(np.prod(model.populations[p].size)) for p in ("E", "I"))
    k_e, k_i = min(n_e, int(0.8 * SHOWN)), min(n_i, SHOWN - int(0.8 * SHOWN))

    def monitor(state, out):
        return out["E"][:k_e] > 0, out["I"][:k_i] > 0, out["E"].sum(), out["I"].sum()

    t0 = time.perf_counter()
    _, (raster_e, raster_i, count_e, count_i) = nt.simulate(
        model, model.init_state(), dt=model.dt, duration=duration, monitor=monitor
    )
    wall = time.perf_counter() - t0
    seconds = duration / 1000.0
    return dict(
        raster_e=np.asarray(raster_e), raster_i=np.asarray(raster_i),
        count_e=np.asarray(count_e), count_i=np.asarray(count_i),
        rate_E=float(np.asarray(count_e).sum() / n_e / seconds),
        rate_I=float(np.asarray(count_i).sum() / n_i / seconds),
        n_e=n_e, n_i=n_i, wall=wall,
    )  # fmt: skip


def plot(result: dict, title: str, dt: float, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_rate) = plt.subplots(2, 1, figsize=(7, 5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})  # fmt: skip
    for raster, offset, color, label in (
        (result["raster_e"], 0, "tab:blue", "E"),
        (result["raster_i"], result["raster_e"].shape[1], "tab:red", "I"),
    ):
        steps, idx = np.nonzero(raster)
        ax.plot((steps + 1) * dt, idx + offset, ".", ms=1.5, color=color, label=label)
    ax.set(ylabel="neuron", title=title)
    ax.legend(loc="upper right", markerscale=6, frameon=False)
    bin_steps = round(5.0 / dt)  # 5 ms bins
    for count, n, color in ((result["count_e"], result["n_e"], "tab:blue"),
                            (result["count_i"], result["n_i"], "tab:red")):  # fmt: skip
        binned = count[: len(count) // bin_steps * bin_steps].reshape(-1, bin_steps).sum(1)
        t = (np.arange(len(binned)) + 0.5) * bin_steps * dt
        ax_rate.plot(t, binned / n / (bin_steps * dt) * 1000.0, color=color, lw=1)
    ax_rate.set(xlabel="time (ms)", ylabel="rate (Hz)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(small: bool = False, out: str = "examples/out", name: str = "COBA") -> dict:
    """Run the zoo's E/I benchmark `name` (COBA, CUBA or COBAHH); saves <name lowercase>.png."""
    cls = getattr(nt.zoo, name)
    scale, duration = (0.1, 200.0) if small else (1.0, cls.duration)
    model = cls(scale)
    result = run(model, duration)
    n, rate_e, rate_i = result["n_e"] + result["n_i"], result["rate_E"], result["rate_I"]
    print(
        f"{name}, N = {n}, {duration:g} ms: E {rate_e:.2f} Hz, I {rate_i:.2f} Hz "
        f"({result['wall']:.1f} s, compilation included)"
    )
    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    title = f"{name} (N = {n}): E {rate_e:.1f} Hz, I {rate_i:.1f} Hz"
    plot(result, title, model.dt, path / f"{name.lower()}.png")
    return result


def cli(main, doc: str) -> None:
    """Run `main` with the command line of these examples: [--small] [--out DIR]."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="N = 400, 200 ms")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)


if __name__ == "__main__":
    cli(main, __doc__)
