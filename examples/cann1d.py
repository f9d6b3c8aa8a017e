"""CANN1D smooth tracking: a bump of activity follows a moving stimulus, then persists alone.

A stimulus held at z = -2 rad creates a bump; the stimulus then moves at a constant speed v and
the bump follows it with a constant lag, which theory puts at d = v tau U / A (U the height of
the bump held by the stimulus, `CANN1D.bump_amplitude(A)`); when the stimulus is switched off,
the bump stays where it was, at the height u0 of Wu, Hamaguchi & Amari (2008).

    python examples/cann1d.py [--small] [--out examples/out]
"""

import argparse
import pathlib

import jax.numpy as jnp
import numpy as np

import neurotree as nt
from neurotree.zoo import CANN1D


def main(small: bool = False, out: str = "examples/out") -> dict:
    dt, z_start, speed = 0.1, -2.0, 0.05  # ms, rad, rad/ms
    hold, move, free = (10.0, 40.0, 20.0) if small else (20.0, 80.0, 50.0)
    model = CANN1D(num=256 if small else 512)
    n_hold, n_move, n_free = (round(d / dt) for d in (hold, move, free))
    # The input is held over each step: sample the moving stimulus at the step midpoints.
    t_mid = (np.arange(n_move) + 0.5) * dt
    position = np.concatenate([np.full(n_hold, z_start), z_start + speed * t_mid])
    stimulus = model.get_stimulus_by_pos(jnp.asarray(position))
    state = model.init_state()
    state, u_on = nt.simulate(model, state, stimulus, dt=dt, n_steps=n_hold + n_move)
    state, u_off = nt.simulate(model, state, None, dt=dt, n_steps=n_free, t0=(n_hold + n_move) * dt)
    u = np.concatenate([np.asarray(u_on), np.asarray(u_off)])
    t = (np.arange(len(u)) + 1) * dt  # u[n] is the state at the end of step n
    decoded = np.asarray(model.decode(u))

    # Lag in the last quarter of the movement (the bump has settled into steady tracking).
    moving = slice(n_hold + 3 * n_move // 4, n_hold + n_move)
    stim_now = z_start + speed * (t[moving] - hold)
    lag = np.asarray(model.dist(stim_now - decoded[moving]))
    A = float(model.A)
    theory = speed * float(model.tau) * float(model.bump_amplitude(A)) / A
    u0 = float(model.bump_amplitude())
    print(f"stimulus speed {speed} rad/ms, tau {float(model.tau)} ms, A {A}")
    print(f"tracking lag: {lag.mean():.5f} rad = {lag.mean() / speed:.3f} ms "
          f"(theory v tau U / A = {theory:.5f} rad); spread {np.ptp(lag):.1e} rad")  # fmt: skip
    drift = float(model.dist(decoded[-1] - decoded[n_hold + n_move - 1]))
    print(f"after the stimulus is removed: bump height {u[-1].max():.5f} (u0 = {u0:.5f}), "
          f"position drift {drift:.1e} rad over {free:.0f} ms")  # fmt: skip

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.asarray(model.x)
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(7, 5.5), height_ratios=[3, 1], sharex=True, layout="constrained"
    )
    # Each time normalised by its peak: the held bump (height ~A) and the free one (u0) alike.
    image = ax.imshow((u / u.max(axis=1, keepdims=True)).T, aspect="auto", origin="lower",
                      cmap="viridis", extent=[t[0] - dt, t[-1], x[0], x[-1]])  # fmt: skip
    stim_t = np.concatenate(
        [np.full(n_hold, z_start), z_start + speed * (t[n_hold:][:n_move] - hold)]
    )
    ax.plot(t[: n_hold + n_move], stim_t, "w--", lw=1, label="stimulus position")
    ax.plot(t, decoded, "r-", lw=0.8, label="decoded bump position")
    ax.axvline(hold + move, color="w", lw=0.5)
    ax.set(ylabel="preferred feature x (rad)", title="CANN1D: smooth tracking, then persistence")
    ax.legend(loc="upper left", frameon=False, labelcolor="w", fontsize=8)
    fig.colorbar(image, ax=ax, label="u / max u")
    ax2.plot(t, u.max(axis=1), "k-")
    ax2.axhline(u0, color="r", ls=":", label="u0 (Wu et al. 2008)")
    ax2.set(xlabel="time (ms)", ylabel="max u", yscale="log")
    ax2.legend(frameon=False, fontsize=8)
    fig.savefig(path / "cann1d.png", dpi=120)
    plt.close(fig)
    return dict(lag=float(lag.mean()), lag_theory=theory, lag_ms=float(lag.mean() / speed),
                height=float(u[-1].max()), u0=u0, drift=drift)  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="fewer neurons, shorter run")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
