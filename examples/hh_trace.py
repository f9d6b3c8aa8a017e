"""Hodgkin-Huxley neuron under a current step: membrane potential, gating variables, spike times.

The classic squid-axon model (Hodgkin & Huxley 1952) driven by 10 uA/cm^2 from t = 10 ms, and the
same neuron built from ion channels with `nt.neurons.CondNeuron`, which must coincide.

    python examples/hh_trace.py [--small] [--out examples/out]
"""

import argparse
import pathlib

import jax.numpy as jnp
import numpy as np

import neurotree as nt


def main(small: bool = False, out: str = "examples/out") -> dict:
    dt, duration = 0.01, 50.0 if small else 100.0
    hh = nt.neurons.HH(1)
    cond = nt.neurons.CondNeuron(
        1,
        channels={
            "INa": nt.channels.INa_HH(),
            "IK": nt.channels.IK_HH(),
            "IL": nt.channels.ILeak(),
        },
    )

    def current(t):
        return jnp.where(t >= 10.0, 10.0, 0.0)

    _, rec = nt.simulate(hh, hh.init_state(), current, dt=dt, duration=duration,
                         monitor=lambda s, o: (s.v, s.m, s.h, s.n, o))  # fmt: skip
    _, v_cond = nt.simulate(cond, cond.init_state(), current, dt=dt, duration=duration,
                            monitor=lambda s, o: s.v)  # fmt: skip
    v, m, h, n, spikes = (np.asarray(x)[:, 0] for x in rec)
    t = dt * np.arange(1, len(v) + 1)
    spike_times = t[spikes > 0]
    print(f"HH, I = 10 uA/cm^2 from t = 10 ms, dt = {dt} ms, {duration:.0f} ms")
    print("spike times (ms):", np.array2string(spike_times, precision=2, separator=", "))
    if len(spike_times) > 1:
        print(f"steady firing rate: {1000.0 / np.diff(spike_times[1:]).mean():.1f} Hz")
    gap = float(np.max(np.abs(np.asarray(v_cond)[:, 0] - v)))
    print(f"max |v_HH - v_CondNeuron| = {gap:.2e} mV")

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 4.5), sharex=True)
    ax1.plot(t, v, "k", lw=1, label="HH")
    ax1.plot(t, np.asarray(v_cond)[:, 0], "C3--", lw=1, label="CondNeuron(INa, IK, IL)")
    ax1.plot(spike_times, np.full_like(spike_times, 45.0), "v", color="C0", ms=4)
    ax1.set(ylabel="v (mV)", title="Hodgkin-Huxley, 10 uA/cm$^2$ step")
    ax1.legend(frameon=False, fontsize=8, loc="lower right")
    for x, name in ((m, "m"), (h, "h"), (n, "n")):
        ax2.plot(t, x, lw=1, label=name)
    ax2.set(xlabel="time (ms)", ylabel="gating")
    ax2.legend(frameon=False, fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path / "hh_trace.png", dpi=120)
    plt.close(fig)
    return dict(spike_times=spike_times, cond_gap=gap)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="shorter run")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
