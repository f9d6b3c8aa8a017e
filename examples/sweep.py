"""Parameter sweep: LIF f-I curves over a (tau, I) grid with `nt.sweep`, against the analytic curve.

    f(I) = 1 / (tau_ref + tau ln(R I / (R I - (v_th - v_rest))))   for R I > v_th - v_rest

Every (tau, I) pair is one member of the sweep: `nt.sweep` runs them as one vmapped simulation,
split over all local devices (try `XLA_FLAGS=--xla_force_host_platform_device_count=8` for 8
CPU devices), and returns NumPy arrays with one row per member. The same members run one at a
time give the same spike counts.

    python examples/sweep.py [--small] [--out examples/out]
"""

import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

import neurotree as nt

TAU_REF, V_REST, V_TH, R, DT = 2.0, 0.0, 20.0, 1.0, 0.01


def analytic_rate(current, tau):
    """Firing rate in Hz of a LIF neuron with v_reset = v_rest under a constant current."""
    drive, tau = np.broadcast_arrays(R * np.asarray(current, np.float64), tau)
    rate = np.zeros(drive.shape)
    above = drive > V_TH - V_REST
    period = TAU_REF + tau[above] * np.log(drive[above] / (drive[above] - (V_TH - V_REST)))
    rate[above] = 1000.0 / period
    return rate


def member(p, duration):
    """One LIF neuron with time constant p["tau"] under current p["I"]: spike count and the rate
    from the mean inter-spike interval (exact for a periodic train; 0 with < 2 spikes)."""
    model = nt.neurons.LIF(1, tau=p["tau"], v_rest=V_REST, v_reset=V_REST, v_th=V_TH,
                           tau_ref=TAU_REF, R=R)  # fmt: skip
    _, spikes = nt.simulate(model, model.init_state(), p["I"], dt=DT, duration=duration)
    s = spikes[:, 0]
    steps = jnp.arange(s.shape[0])
    first = jnp.min(jnp.where(s > 0, steps, s.shape[0]))
    last = jnp.max(jnp.where(s > 0, steps, -1))
    n = s.sum()
    rate = jnp.where(n >= 2, 1000.0 * (n - 1) / (jnp.maximum(last - first, 1) * DT), 0.0)
    return {"count": n, "rate": rate}


def main(small: bool = False, out: str = "examples/out") -> dict:
    taus = np.array([5.0, 10.0, 20.0] if small else [5.0, 10.0, 20.0, 40.0])
    currents = np.linspace(0.0, 80.0, 9 if small else 41)
    duration = 500.0 if small else 2000.0
    tau_grid, current_grid = np.meshgrid(taus, currents, indexing="ij")
    params = {"tau": tau_grid.ravel(), "I": current_grid.ravel()}  # one member per pair

    run = jax.tree_util.Partial(member, duration=duration)
    t0 = time.perf_counter()
    result = nt.sweep(run, params, progress=not small)
    wall = time.perf_counter() - t0
    rates = result["rate"].reshape(tau_grid.shape)
    expected = analytic_rate(current_grid, tau_grid)
    firing = expected > 0
    rel = np.abs(rates[firing] - expected[firing]) / expected[firing]

    # The one-at-a-time loop, on a few members (all of them in small mode).
    check = range(tau_grid.size) if small else range(0, tau_grid.size, 7)
    run({"tau": params["tau"][0], "I": params["I"][0]})  # compile once, outside the timing
    t0 = time.perf_counter()
    counts_equal = all(
        float(run({"tau": params["tau"][i], "I": params["I"][i]})["count"]) == result["count"][i]
        for i in check
    )
    loop_wall = (time.perf_counter() - t0) / len(check)
    print(f"{tau_grid.size} members on {len(jax.local_devices())} device(s) in {wall:.2f} s "
          f"(one at a time: {loop_wall:.3f} s per member)")  # fmt: skip
    print(f"max relative error above rheobase: {rel.max():.2%}; rate below rheobase: "
          f"{rates[~firing].max():.1f} Hz; counts equal the loop: {counts_equal}")  # fmt: skip

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    fine = np.linspace(currents[0], currents[-1], 400)
    for k, tau in enumerate(taus):
        color = f"C{k}"
        ax.plot(fine, analytic_rate(fine, tau), "-", color=color, lw=1)
        ax.plot(currents, rates[k], "o", ms=3.5, color=color, label=f"tau = {tau:g} ms")
    ax.plot([], [], "k-", lw=1, label="analytic")
    ax.set(xlabel="input current R I (mV)", ylabel="firing rate (Hz)",
           title=f"LIF f-I curves: one nt.sweep of {tau_grid.size} members")  # fmt: skip
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(path / "sweep.png", dpi=120)
    plt.close(fig)
    return dict(
        taus=taus, currents=currents, rates=rates, expected=expected, n_members=tau_grid.size,
        max_rel_error=float(rel.max()), counts_equal_loop=counts_equal, wall=wall,
        loop_wall_per_member=loop_wall,
    )  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer members, shorter run")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
