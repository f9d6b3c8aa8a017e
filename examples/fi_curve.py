"""LIF f-I curve: simulated firing rates against the analytic curve.

    f(I) = 1 / (tau_ref + tau ln(R I / (R I - (v_th - v_rest))))   for R I > v_th - v_rest

One population of neurons, one current per neuron, one `nt.simulate` call.

    python examples/fi_curve.py [--small] [--out examples/out]
"""

import argparse
import pathlib

import jax.numpy as jnp
import numpy as np

import neurotree as nt


def analytic_rate(current, tau, tau_ref, v_rest, v_th, R):
    """Firing rate in Hz of a LIF neuron with v_reset = v_rest under a constant current."""
    drive = R * np.asarray(current, np.float64)
    rate = np.zeros_like(drive)
    above = drive > v_th - v_rest
    period = tau_ref + tau * np.log(drive[above] / (drive[above] - (v_th - v_rest)))
    rate[above] = 1000.0 / period
    return rate


def main(small: bool = False, out: str = "examples/out") -> dict:
    tau, tau_ref, v_rest, v_th, R = 10.0, 2.0, 0.0, 20.0, 1.0
    currents = np.linspace(0.0, 80.0, 17 if small else 81)
    duration = 500.0 if small else 2000.0
    model = nt.neurons.LIF(
        len(currents), tau=tau, v_rest=v_rest, v_reset=v_rest, v_th=v_th, tau_ref=tau_ref, R=R
    )
    _, spikes = nt.simulate(model, model.init_state(), jnp.asarray(currents), dt=0.01,
                            duration=duration)  # fmt: skip
    spikes = np.asarray(spikes)
    # Rate from the mean inter-spike interval (exact for a periodic train), 0 with < 2 spikes.
    rates = np.zeros(len(currents))
    for i in range(len(currents)):
        times = np.flatnonzero(spikes[:, i]) * 0.01
        if len(times) >= 2:
            rates[i] = 1000.0 / np.diff(times).mean()
    expected = analytic_rate(currents, tau, tau_ref, v_rest, v_th, R)
    print(f"{'I':>6} {'simulated Hz':>13} {'analytic Hz':>12}")
    for i in range(0, len(currents), max(1, len(currents) // 9)):
        print(f"{currents[i]:6.1f} {rates[i]:13.2f} {expected[i]:12.2f}")
    firing = expected > 0
    rel = np.abs(rates[firing] - expected[firing]) / expected[firing]
    print(f"max relative error above rheobase: {rel.max():.2%}; rate below rheobase: "
          f"{rates[~firing].max():.1f} Hz")  # fmt: skip

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    fine = np.linspace(currents[0], currents[-1], 400)
    ax.plot(fine, analytic_rate(fine, tau, tau_ref, v_rest, v_th, R), "k-", label="analytic")
    ax.plot(currents, rates, "o", ms=4, label="neurotree LIF, dt = 0.01 ms")
    ax.set(xlabel="input current R I (mV)", ylabel="firing rate (Hz)", title="LIF f-I curve")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path / "fi_curve.png", dpi=120)
    plt.close(fig)
    return dict(currents=currents, rates=rates, expected=expected, max_rel_error=float(rel.max()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer currents, shorter run")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
