"""neurotree quickstart: a gallery of neuron models, each checked against what it should do.

- LIF: firing rates against the analytic f-I curve.
- Hodgkin-Huxley: spike train under a 10 uA/cm^2 step.
- Izhikevich: regular spiking, fast spiking, chattering and intrinsically bursting cells (one
  population, four parameter sets, one simulation).
- AdEx: spike-frequency adaptation under a current step.

Prints what it measured and saves `examples/out/quickstart.png`.

    python examples/quickstart.py [--small] [--out examples/out]
"""

import argparse
import pathlib

import jax.numpy as jnp
import numpy as np

import neurotree as nt


def spike_times(spikes, dt):
    return [np.flatnonzero(np.asarray(spikes)[:, i]) * dt + dt for i in range(spikes.shape[1])]


def lif_fi(small):
    tau, tau_ref, v_th = 10.0, 2.0, 20.0
    currents = np.array([10.0, 19.0, 25.0, 30.0, 40.0, 60.0, 80.0])
    lif = nt.neurons.LIF(len(currents), tau=tau, v_rest=0.0, v_reset=0.0, v_th=v_th,
                         tau_ref=tau_ref)  # fmt: skip
    duration = 300.0 if small else 1000.0
    _, spikes = nt.simulate(lif, lif.init_state(), jnp.asarray(currents), dt=0.01,
                            duration=duration)  # fmt: skip
    measured = [1000.0 / np.diff(ts).mean() if len(ts) > 1 else 0.0
                for ts in spike_times(spikes, 0.01)]  # fmt: skip
    above = currents > v_th
    analytic = np.zeros_like(currents)
    analytic[above] = 1000.0 / (tau_ref + tau * np.log(currents[above] / (currents[above] - v_th)))
    print("LIF f-I (tau 10 ms, tau_ref 2 ms, threshold 20 mV, dt 0.01 ms)")
    print(f"  {'R I (mV)':>9} {'simulated Hz':>13} {'analytic Hz':>12}")
    for c, r, a in zip(currents, measured, analytic):
        print(f"  {c:9.1f} {r:13.2f} {a:12.2f}")
    return currents, np.array(measured), analytic


def hh(small):
    model = nt.neurons.HH(1)
    duration = 60.0 if small else 100.0
    _, (v, spikes) = nt.simulate(model, model.init_state(), 10.0, dt=0.01, duration=duration,
                                 monitor=lambda s, o: (s.v, o))  # fmt: skip
    ts = spike_times(spikes, 0.01)[0]
    print(f"HH, 10 uA/cm^2: {len(ts)} spikes at", np.array2string(ts, precision=2), "ms")
    return np.asarray(v)[:, 0], ts


IZHIKEVICH = {  # Izhikevich (2003), IEEE Trans Neural Netw 14:1569, Fig. 2
    "regular spiking": (0.02, 0.2, -65.0, 8.0),
    "fast spiking": (0.1, 0.2, -65.0, 2.0),
    "chattering": (0.02, 0.2, -50.0, 2.0),
    "intrinsically bursting": (0.02, 0.2, -55.0, 4.0),
}


def izhikevich(small):
    a, b, c, d = (jnp.array(p) for p in zip(*IZHIKEVICH.values()))
    model = nt.neurons.Izhikevich(4, a=a, b=b, c=c, d=d)
    duration = 200.0 if small else 400.0
    _, (v, spikes) = nt.simulate(model, model.init_state(), 10.0, dt=0.1, duration=duration,
                                 monitor=lambda s, o: (s.v, o))  # fmt: skip
    print(f"Izhikevich, I = 10, {duration:.0f} ms:")
    for name, ts in zip(IZHIKEVICH, spike_times(spikes, 0.1)):
        isi = np.diff(ts)
        print(f"  {name:24s} {len(ts):3d} spikes, ISI min {isi.min():5.1f} ms, "
              f"max {isi.max():5.1f} ms")  # fmt: skip
    return np.asarray(v)


def adex(small):
    model = nt.neurons.AdExIF(1, a=0.5, b=7.0, tau_w=100.0)
    duration = 300.0 if small else 500.0
    _, (v, spikes) = nt.simulate(model, model.init_state(), 65.0, dt=0.05, duration=duration,
                                 monitor=lambda s, o: (s.v, o))  # fmt: skip
    isi = np.diff(spike_times(spikes, 0.05)[0])
    print(f"AdEx adaptation: ISIs grow from {isi[0]:.1f} ms to {isi[-1]:.1f} ms "
          f"over {len(isi) + 1} spikes")  # fmt: skip
    return np.asarray(v)[:, 0], isi


def main(small: bool = False, out: str = "examples/out") -> dict:
    currents, measured, analytic = lif_fi(small)
    v_hh, hh_spikes = hh(small)
    v_izh = izhikevich(small)
    v_adex, isi = adex(small)

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    ax = axes[0, 0]
    ax.plot(currents, analytic, "k-", label="analytic")
    ax.plot(currents, measured, "o", label="simulated")
    ax.set(title="LIF f-I curve", xlabel="R I (mV)", ylabel="rate (Hz)")
    ax.legend(frameon=False)
    ax = axes[0, 1]
    ax.plot(0.01 * np.arange(1, len(v_hh) + 1), v_hh, "k", lw=0.8)
    ax.set(title="Hodgkin-Huxley, 10 uA/cm$^2$", xlabel="time (ms)", ylabel="v (mV)")
    ax = axes[1, 0]
    t = 0.1 * np.arange(1, v_izh.shape[0] + 1)
    for i, name in enumerate(IZHIKEVICH):
        ax.plot(t, np.minimum(v_izh[:, i], 30.0) - 120.0 * i, lw=0.7, label=name)
    ax.set(title="Izhikevich cell classes", xlabel="time (ms)", yticks=[])
    ax.legend(frameon=False, fontsize=7, loc="upper right")
    ax = axes[1, 1]
    ax.plot(0.05 * np.arange(1, len(v_adex) + 1), v_adex, "k", lw=0.8)
    ax.set(title="AdEx spike-frequency adaptation", xlabel="time (ms)", ylabel="v (mV)")
    fig.tight_layout()
    fig.savefig(path / "quickstart.png", dpi=110)
    plt.close(fig)
    print(f"saved {path / 'quickstart.png'}")
    return dict(lif_rates=measured, lif_expected=analytic, hh_spikes=hh_spikes, adex_isi=isi)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="shorter runs")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
