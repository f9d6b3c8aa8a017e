"""Wang (2002) decision making: winner-take-all between two pools and the psychometric curve.

The spiking network of `nt.zoo.DecisionMaking` sees a stimulus that favours pool A by a motion
coherence c (%). For every coherence level it runs a batch of trials, all levels in one
`eqx.filter_vmap` call; the choice of a trial is the pool with the higher rate over the last
300 ms of the stimulus, and its decision time is when a pool's rate (50 ms window) first
crosses 15 Hz after stimulus onset. Prints the table, saves the population rates of one trial
and the psychometric curve.

    python examples/decision_making.py [--small] [--out examples/out]
"""

import argparse
import pathlib
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import neurotree as nt
from neurotree.zoo import DecisionMaking

COHERENCES = (0.0, 6.4, 12.8, 25.6, 51.2)
THRESHOLD = 15.0  # Hz, decision threshold (Wang 2002)


def simulate_trials(model, coherences, n_trials, duration, key):
    """Spike counts per step of pools A and B: (levels, steps, trials, 2), in one call."""
    a, b = model.pools["A"], model.pools["B"]

    def monitor(state, outputs):
        spikes = outputs["E"]
        return jnp.stack([spikes[..., a].sum(-1), spikes[..., b].sum(-1)], -1)

    def level(coherence, key):  # the model is closed over, so its delays stay concrete
        m = eqx.tree_at(lambda m: m.coherence, model, coherence)
        k_init, k_run = jax.random.split(key)
        state = m.init_state((n_trials,), key=k_init)
        _, counts = nt.simulate(m, state, dt=m.dt, duration=duration, key=k_run, monitor=monitor)
        return counts

    keys = jax.random.split(key, len(coherences))
    return np.asarray(eqx.filter_jit(eqx.filter_vmap(level))(jnp.asarray(coherences), keys))


def sliding_rate(counts, n, dt, window=50.0):
    """Rate (Hz) over the `window` ms ending at each step, along axis 1."""
    steps = round(window / dt)
    c = np.cumsum(counts, axis=1)
    c[:, steps:] = c[:, steps:] - c[:, :-steps]
    return c / n / (window / 1000.0)


def main(small: bool = False, out: str = "examples/out") -> dict:
    if small:
        scale, n_trials, coherences, stim_on, stim_off, duration = (
            0.25, 4, (0.0, 51.2), 100.0, 800.0, 800.0
        )  # fmt: skip
    else:
        scale, n_trials, coherences, stim_on, stim_off, duration = (
            1.0, 16, COHERENCES, 200.0, 1200.0, 1500.0
        )  # fmt: skip
    model = DecisionMaking(scale, stim_on=stim_on, stim_off=stim_off)
    n = model.pools["A"].stop - model.pools["A"].start
    dt = model.dt
    start = time.perf_counter()
    counts = simulate_trials(model, coherences, n_trials, duration, jax.random.key(0))
    wall = time.perf_counter() - start
    n_runs = len(coherences) * n_trials
    per_second = wall / (n_runs * duration / 1000.0)

    late = slice(round((stim_off - 300.0) / dt), round(stim_off / dt))
    late_rates = counts[:, late].sum(1) / n / 0.3  # (levels, trials, 2)
    choose_a = late_rates[..., 0] > late_rates[..., 1]
    winner = late_rates.max(-1)
    loser = late_rates.min(-1)
    rate = sliding_rate(counts, n, dt)  # (levels, steps, trials, 2)
    onset = round(stim_on / dt)
    crossed = rate[:, onset:].max(-1) >= THRESHOLD  # (levels, steps, trials)
    decided = crossed.any(1)
    rt = np.where(decided, crossed.argmax(1) * dt, np.nan)
    p_a = choose_a.mean(1)

    print(f"{model.summary}; {sum(model.populations[p].size[0] for p in 'EI')} neurons, "
          f"{n_trials} trials per level, stimulus {stim_on:g}-{stim_off:g} ms")  # fmt: skip
    print(f"{'coherence %':>11} {'P(A)':>5} {'winner Hz':>9} {'loser Hz':>8} "
          f"{'decided':>7} {'decision ms':>11}")  # fmt: skip
    for i, c in enumerate(coherences):
        mean_rt = np.nanmean(rt[i]) if decided[i].any() else np.nan  # decided trials only
        print(f"{c:11.1f} {p_a[i]:5.2f} {winner[i].mean():9.1f} {loser[i].mean():8.1f} "
              f"{decided[i].mean():7.2f} {mean_rt:11.0f}")  # fmt: skip
    print(f"wall time {wall:.1f} s for {n_runs} trials of {duration:g} ms "
          f"({per_second:.2f} s per simulated second per trial, compilation included)")  # fmt: skip

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(12, 3.5))
    level = -2 if len(coherences) > 2 else -1  # 25.6 %: its earliest decision
    trial = int(np.argmin(np.where(decided[level], rt[level], np.inf)))
    t = np.arange(counts.shape[1]) * dt
    for k, (label, color) in enumerate((("A", "C3"), ("B", "C0"))):
        ax0.plot(t, rate[level, :, trial, k], color=color, label=f"pool {label}")
    ax0.axvspan(stim_on, stim_off, color="0.9", zorder=-1)
    ax0.axhline(THRESHOLD, color="0.5", ls=":", lw=1)
    ax0.set(xlabel="time (ms)", ylabel="rate (Hz, 50 ms window)",
            title=f"trial {trial}, coherence {coherences[level]:g} %")  # fmt: skip
    ax0.legend(frameon=False)
    ax1.plot(coherences, p_a, "o-", color="k")
    ax1.set(xlabel="coherence (%)", ylabel="P(choose A)", ylim=(-0.05, 1.05),
            title=f"psychometric curve ({n_trials} trials per level)")  # fmt: skip
    ax2.plot(coherences, [np.nanmean(r) if np.isfinite(r).any() else np.nan for r in rt],
             "o-", color="k")  # fmt: skip
    ax2.set(xlabel="coherence (%)", ylabel="decision time (ms after onset)",
            title=f"first crossing of {THRESHOLD:g} Hz")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path / "decision_making.png", dpi=120)
    plt.close(fig)
    return dict(
        coherences=np.asarray(coherences), p_a=p_a, winner=winner, loser=loser,
        decision_time=rt, late_rates=late_rates, wall_per_second=per_second,
    )  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="smaller network, fewer trials")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
