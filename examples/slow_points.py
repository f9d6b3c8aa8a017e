"""Fixed points and linearisation of high-dimensional dynamics with `nt.analysis.SlowPointFinder`.

1. CANN1D (Wu, Hamaguchi & Amari 2008): bumps made by a stimulus at positions round the ring,
   relaxed without it and perturbed, are the starting points; the finder returns a line of
   fixed points (free bumps covering the ring), each with one eigenvalue ~0 whose eigenvector is
   the bump's translation, d u / d z (the line attractor), and the rest negative.
2. A continuous-time tanh rate RNN (`nt.training.RateRNN`, tau = 100 ms, recurrent noise)
   trained by BPTT on the random-dot motion task (`nt.training.perceptual_decision`, Song, Yang
   & Wang 2016; here 300 ms of evidence at 12.8-51.2% coherence, then a 1200 ms decision epoch,
   longer than the paper's, so that the choice must be held). For the decision epoch (no
   input), starting from the states its trials visit (Sussillo & Barak 2013, Neural Comput
   25:626), the finder returns the two choice
   attractors (every eigenvalue with Re < 0, each read out as one choice) and an unstable point
   between them (a saddle with one unstable direction in the small run) whose leading unstable
   direction leads to one attractor or the other.

    python examples/slow_points.py [--small] [--out neurotree-out]
"""

import argparse
import pathlib
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import neurotree as nt
from neurotree.zoo import CANN1D

DT_RNN = 20.0  # ms
TASK = dict(fixation=100.0, stimulus=300.0, decision=1200.0, dt=DT_RNN,
            coherences=(12.8, 25.6, 51.2))  # fmt: skip


def cann(small: bool, rng) -> dict:
    num, n_pos = (128, 32) if small else (512, 128)
    model = CANN1D(num=num)
    # As in BrainPy's CANN example: a stimulus at each position for 10 ms, then 20 ms without.
    spacing = 2 * np.pi / n_pos
    pos = -np.pi + spacing * (np.arange(n_pos) + rng.uniform(0, 1, n_pos))
    state = model.init_state((n_pos,))
    stimulus = model.get_stimulus_by_pos(jnp.asarray(pos))
    state, _ = nt.simulate(model, state, stimulus, dt=0.1, duration=10.0)
    state, _ = nt.simulate(model, state, None, dt=0.1, duration=20.0)
    candidates = state.u + 0.01 * jnp.asarray(rng.normal(size=state.u.shape), state.u.dtype)
    finder = nt.analysis.SlowPointFinder(
        model, 0.0, n_steps=1000 if small else 3000, tol_q=1e-10, tol_unique=0.05
    )
    start = time.perf_counter()
    result = finder.find(candidates)
    seconds = time.perf_counter() - start
    u = np.asarray(result.points)
    z = np.sort(np.asarray(model.decode(u)))
    gap = np.max(np.diff(np.concatenate([z, z[:1] + 2 * np.pi])))
    lam = np.asarray(result.eigenvalues)
    du = np.roll(u, -1, axis=1) - np.roll(u, 1, axis=1)  # d u / d x, up to a factor
    v = np.asarray(result.eigenvectors[:, :, 0].real)
    cos = np.abs(np.sum(du * v, 1)) / (np.linalg.norm(du, axis=1) * np.linalg.norm(v, axis=1))
    u0 = float(model.bump_amplitude())
    out = dict(
        n_candidates=n_pos, n_points=len(result), max_gap=float(gap), spacing=spacing,
        height_error=float(np.max(np.abs(u.max(1) / u0 - 1))),
        zero_ratio=float(np.max(np.abs(lam[:, 0]) / np.abs(lam[:, 1].real))),
        lambda1=float(np.mean(lam[:, 1].real)), cos_min=float(cos.min()),
        q_max=float(np.max(np.asarray(result.q))), seconds=seconds,
    )  # fmt: skip
    print(f"CANN1D (num = {num}): {result.summary()} in {seconds:.1f} s, q <= {out['q_max']:.1e}")
    print(
        f"  decoded positions cover the ring: largest gap {gap:.3f} rad (candidates every "
        f"{spacing:.3f} rad); bump height within {out['height_error']:.1e} of u0 = {u0:.4f}"
    )
    print(f"  eigenvalue ~0: max |lambda_0| / |lambda_1| = {out['zero_ratio']:.1e} "
          f"(lambda_1 = {out['lambda1']:.4f} /ms); its eigenvector vs d u / d z: "
          f"|cos| >= {out['cos_min']:.4f}")  # fmt: skip
    return dict(out, result=result, model=model)


def run(model, inputs, key):
    state = model.init_state((inputs.shape[1],))
    return nt.simulate(model, state, inputs, dt=DT_RNN, n_steps=inputs.shape[0], key=key,
                       monitor=lambda s, z: (s.x, z))[1]  # fmt: skip


def train_rnn(small: bool, key):
    n_rec, n_steps, batch = (32, 400, 32) if small else (64, 2000, 64)
    k_model, k_train = jax.random.split(key)
    model = nt.training.RateRNN(3, n_rec, 3, tau=100.0, noise=0.1, nonlinearity=jnp.tanh,
                                key=k_model)  # fmt: skip
    optim = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
    opt_state = optim.init(eqx.filter(model, eqx.is_inexact_array))

    def loss_fn(model, trials, key):
        _, z = run(model, trials.inputs, key)
        return jnp.sum(trials.mask * (z - trials.targets) ** 2) / jnp.sum(trials.mask)

    @eqx.filter_jit
    def step(model, opt_state, key):
        k_task, k_noise = jax.random.split(key)
        trials = nt.training.perceptual_decision(k_task, batch, **TASK)
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, trials, k_noise)
        updates, opt_state = optim.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    start = time.perf_counter()
    for k in jax.random.split(k_train, n_steps):
        model, opt_state, loss = step(model, opt_state, k)
    seconds = time.perf_counter() - start
    print(f"RateRNN (n_rec = {n_rec}, tanh): {n_steps} steps of {batch} trials in {seconds:.1f} "
          f"s, final loss {float(loss):.4f}")  # fmt: skip
    return model, seconds


def decision_rnn(small: bool, rng, key) -> dict:
    k_train, k_test, k_noise = jax.random.split(key, 3)
    model, train_seconds = train_rnn(small, k_train)
    trials = nt.training.perceptual_decision(k_test, 500, **TASK)
    x, z = run(model, trials.inputs, k_noise)
    accuracy = float(jnp.mean(trials.choose(z) == trials.choice))
    # The ideal observer of the same inputs, averaged over the (equally likely) coherences.
    ideal = float(jnp.mean(nt.training.ideal_accuracy(jnp.asarray(TASK["coherences"]),
                                                      stimulus=TASK["stimulus"])))  # fmt: skip
    # Candidates: states the trials visit after fixation, plus noise.
    visited = np.asarray(x[trials.fixation_steps :]).reshape(-1, model.n_rec)
    candidates = visited[rng.choice(len(visited), 256, replace=False)]
    candidates = candidates + 0.1 * rng.normal(size=candidates.shape)
    finder = nt.analysis.SlowPointFinder(
        model, jnp.zeros(3), n_steps=3000, tol_q=1e-10, tol_unique=0.1
    )  # the decision epoch: no fixation cue, no evidence
    start = time.perf_counter()
    result = finder.find(jnp.asarray(candidates, jnp.float32))
    seconds = time.perf_counter() - start
    unstable = np.asarray(result.n_unstable())
    readout = np.asarray(model.readout(result.points))
    stable = np.flatnonzero(unstable == 0)
    saddles = np.flatnonzero(unstable == 1)
    between = np.flatnonzero(unstable > 0)
    between = between[np.argsort(unstable[between], kind="stable")]  # fewest unstable first
    choices = sorted({int(np.argmax(readout[i, 1:])) for i in stable})
    # Check the linearisation by simulating the noiseless network: from each stable point it
    # stays; from the unstable point with the fewest unstable directions (a saddle with one, for
    # a well-trained network), nudged both ways along its leading eigenvector, it falls to the
    # two attractors.
    quiet = eqx.tree_at(lambda m: m.noise, model, None, is_leaf=lambda v: v is None)
    n_steps = round(10_000.0 / DT_RNN)
    starts = [np.asarray(result.points[i]) for i in stable]
    for i in between[:1]:
        e = np.asarray(result.eigenvectors[i, :, 0].real)
        starts += [np.asarray(result.points[i]) + s * 0.05 * e / np.linalg.norm(e) for s in (1, -1)]
    state = quiet.init_state((len(starts),))
    state = eqx.tree_at(lambda s: s.x, state, jnp.asarray(np.stack(starts), jnp.float32))
    zeros = jnp.zeros((n_steps, len(starts), 3))
    end, (path, _) = nt.simulate(quiet, state, zeros, dt=DT_RNN, n_steps=n_steps,
                                 monitor=lambda s, z: (s.x, z))  # fmt: skip
    path = np.asarray(path)
    fixed = np.stack(starts[: len(stable)])
    drift = float(np.max(np.linalg.norm(path[-1, : len(stable)] - fixed, axis=1)))
    saddle_ends, reach = [], []
    separation = np.linalg.norm(fixed[0] - fixed[-1]) if len(fixed) > 1 else 1.0
    for j in range(len(stable), len(starts)):
        d = np.linalg.norm(path[-1, j] - fixed, axis=1)
        saddle_ends.append(int(stable[np.argmin(d)]))
        reach.append(float(d.min() / separation))
    saddle_splits = len(set(saddle_ends)) == 2 and max(reach) < 0.05
    print(f"  accuracy {accuracy:.3f} on 500 test trials (ideal observer {ideal:.3f}); "
          f"{result.summary()} in {seconds:.1f} s")  # fmt: skip
    for i in range(len(result)):
        kind = {0: "stable", 1: "saddle"}.get(int(unstable[i]), f"{unstable[i]} unstable")
        print(f"  point {i}: {kind:8s} q = {float(result.q[i]):.1e}, largest Re lambda = "
              f"{float(result.eigenvalues[i, 0].real):+.5f} /ms, readout "
              f"(fixation, choice 0, choice 1) = {np.round(readout[i], 3)}")  # fmt: skip
    print(f"  noiseless runs of 10 s: drift from the stable points <= {drift:.1e}; the unstable "
          f"point's leading direction, both ways, leads to attractors {saddle_ends} (to within "
          f"{max(reach, default=np.nan):.1e} of their separation)")  # fmt: skip
    return dict(
        accuracy=accuracy, n_points=len(result), n_stable=len(stable), n_saddles=len(saddles),
        n_unstable_points=len(between), ideal=ideal,
        choices=choices, drift=drift, saddle_splits=saddle_splits, saddle_reach=reach,
        train_seconds=train_seconds, seconds=seconds, result=result,
        trajectories=np.asarray(x[trials.fixation_steps :, :8]),
        saddle_out=np.asarray(model.readout(jnp.asarray(path[:, len(stable) :]))),
        readout=readout,
    )  # fmt: skip


def main(small: bool = False, out: str = "neurotree-out") -> dict:
    rng = np.random.default_rng(0)
    c = cann(small, rng)
    r = decision_rnn(small, rng, jax.random.key(0))

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(13, 7.5), layout="constrained")
    axes = [fig.add_subplot(2, 3, i + 1) for i in range(6)]
    result, model = c["result"], c["model"]
    u = np.asarray(result.points)
    order = np.argsort(np.asarray(model.decode(u)))
    x = np.asarray(model.x)
    for i in order[:: max(1, len(order) // 12)]:
        axes[0].plot(x, u[i], lw=0.8)
    axes[0].set(xlabel="preferred feature x (rad)", ylabel="u",
                title=f"CANN1D: {len(u)} fixed points, free bumps")  # fmt: skip
    lam = np.asarray(result.eigenvalues.real)
    axes[1].plot(np.arange(lam.shape[1]), lam.T, color="0.6", lw=0.5)
    axes[1].plot(np.zeros(len(lam)), lam[:, 0], "C3o", ms=3, label="lambda_0 (translation)")
    axes[1].set(xlim=(-1, 40), xlabel="eigenvalue index (by real part)", ylabel="Re lambda (1/ms)",
                title="spectra at every fixed point")  # fmt: skip
    axes[1].legend(frameon=False)
    nt.plot.slow_points(result, ax=axes[2], tol=1e-4)
    axes[2].set(title="the line attractor on its top 2 PCs")
    rres = r["result"]
    nt.plot.slow_points(rres, ax=axes[3], trajectories=r["trajectories"])
    axes[3].set(title=f"decision RNN (accuracy {r['accuracy']:.2f}): fixed points, trials")
    rl = np.asarray(rres.eigenvalues.real)
    for i in range(len(rres)):
        axes[4].plot(rl[i, :15], "o-", ms=3, label=f"point {i} ({r['readout'][i, 1:].round(2)})")
    axes[4].axhline(0, color="k", lw=0.5)
    axes[4].set(xlabel="eigenvalue index", ylabel="Re lambda (1/ms)",
                title="decision RNN: top 15 eigenvalues")  # fmt: skip
    axes[4].legend(frameon=False, fontsize=7)
    saddle_out = r["saddle_out"]  # (time, 2 runs, 3 outputs)
    t = DT_RNN * np.arange(1, saddle_out.shape[0] + 1)
    for j, ls in zip(range(saddle_out.shape[1]), ("-", "--")):
        axes[5].plot(t, saddle_out[:, j, 1], "C0" + ls, label="choice 0" if j == 0 else None)
        axes[5].plot(t, saddle_out[:, j, 2], "C1" + ls, label="choice 1" if j == 0 else None)
    if saddle_out.shape[1]:
        axes[5].legend(frameon=False, fontsize=8)
    axes[5].set(xlabel="time from the unstable point (ms)", ylabel="output",
                title="from the unstable point: + (solid), - (dashed)")  # fmt: skip
    fig.savefig(path / "slow_points.png", dpi=110)
    plt.close(fig)
    drop = ("result", "model", "trajectories", "saddle_out", "readout")
    return dict(
        cann={k: v for k, v in c.items() if k not in drop},
        rnn={k: v for k, v in r.items() if k not in drop},
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="smaller models, shorter training")
    parser.add_argument("--out", default="neurotree-out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
