"""Chaotic Lorenz prediction with an echo state network trained three ways: ridge, FORCE, BPTT.

BrainPy (Wang et al. 2023, eLife 12:e86365, Fig. 4D-F) trains one echo state network to predict
the Lorenz system by ridge regression, FORCE learning and backpropagation, with errors 0.001057,
0.171304 and 1.276112, and defers the details to its Appendix 10. The task here is the one of
BrainPy's script for that figure (figure4DEF.py in PKU-NIP-Lab/brainpy-paper-reproducibility):

- data: Lorenz63, dx/dt = 10 (y - x), dy/dt = x (28 - z) - y, dz/dt = x y - 8/3 z, from
  (x, y, z) = (8, 1, 1), sampled every dt = 0.001 for 100 time units (100,000 samples);
  generated at run time with diffrax (Tsit5 at a fixed step of 0.001; BrainPy: RK4, same step);
- task: from u[n] = (x, y, z)[n] predict (x, y, z)[n + 5], 5 samples (0.005 time units) ahead,
  in the raw units of the Lorenz variables: no normalisation of inputs, targets or errors;
- model: a reservoir of 100 leaky tanh units with leak rate 0.3 and 10 % recurrent connectivity
  (BrainPy's `Reservoir(3, 100)` defaults), a linear readout with bias to (x, y, z).

Where this differs (the paper is silent on these, or BrainPy's script does otherwise):

- held-out test: BrainPy fits and evaluates on the same series; here the readouts are fitted on
  the first 100 time units and evaluated on the next 20 (samples 100,000-120,000), never seen in
  training (the first 100 training samples are a washout of the reservoir's zero start);
- the metric: the paper says "mean squared error", but the script prints
  `bp.losses.mean_absolute_error`; both are reported here, each next to BrainPy's number;
- reservoir weights: BrainPy's defaults draw W_in and W from N(0, 0.1^2) (10 % connectivity, no
  bias, no spectral-radius scaling); here W has uniform entries rescaled to spectral radius 0.9, and
  W_in uniform in [-0.05, 0.05] (the inputs reach |z| ~ 48), all inputs connected;
- ridge: alpha = 1e-6 in both; FORCE: RLS with P0 = I / alpha, alpha = 1e-3 here, P0 = 0.1 I
  (alpha = 10) in BrainPy; both train the readout online, without feedback (the reservoir is
  driven by the true input, as in BrainPy's `OnlineTrainer`);
- backpropagation: BrainPy trains the readout alone on precomputed states (Adam, lr 1e-3, 100
  epochs); here BPTT through `nt.simulate` trains readout and reservoir (W_in, W, b; not the
  leak) with Adam (warm-up cosine schedule, peak lr 1e-2) on windows of 200 steps (the first 50
  a washout from a zero state) drawn from the training series;
- float32 throughout (BrainPy ran in float64).

    python examples/lorenz_esn.py [--small] [--out examples/out]
"""

import argparse
import pathlib
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import neurotree as nt

BRAINPY = {"ridge": 0.001057, "force": 0.171304, "bptt": 1.276112}  # eLife 2023, Fig. 4D-F
DT = 0.001  # Lorenz time units per sample
AHEAD = 5  # samples predicted ahead
WASHOUT = 100  # reservoir samples discarded after the zero start


def lorenz(n_samples: int) -> np.ndarray:
    """Lorenz63 from (8, 1, 1), sampled every DT: (n_samples, 3)."""

    def field(t, y, args):
        x, v, z = y[0], y[1], y[2]
        return jnp.stack([10.0 * (v - x), x * (28.0 - z) - v, x * v - 8.0 / 3.0 * z])

    ts = jnp.arange(n_samples) * DT
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field), diffrax.Tsit5(), 0.0, ts[-1], DT, jnp.array([8.0, 1.0, 1.0]),
        saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.ConstantStepSize(),
        max_steps=n_samples + 16,
    )  # fmt: skip
    return np.asarray(sol.ys)


def errors(pred, true) -> tuple[float, float]:
    err = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    return float(np.mean(err**2)), float(np.mean(np.abs(err)))


def train_bptt(esn, inputs, targets, *, n_iter, batch, window, washout, lr, key):
    """Adam on the MSE of the readout over random training windows, BPTT through nt.simulate."""
    spec = jax.tree.map(eqx.is_inexact_array, esn)
    spec = eqx.tree_at(lambda m: m.leak, spec, False)
    params, static = eqx.partition(esn, spec)
    schedule = optax.warmup_cosine_decay_schedule(0.0, lr, n_iter // 50, n_iter, lr * 1e-2)
    opt = optax.adam(schedule)
    opt_state = opt.init(params)

    def loss_fn(params, u, y):
        model = eqx.combine(params, static)
        _, out = nt.simulate(model, model.init_state((u.shape[1],)), u, dt=DT,
                             n_steps=u.shape[0])  # fmt: skip
        return jnp.mean((out[washout:] - y[washout:]) ** 2)

    @eqx.filter_jit
    def step(params, opt_state, key):
        starts = jax.random.randint(key, (batch,), 0, inputs.shape[0] - window + 1)
        idx = starts[None, :] + jnp.arange(window)[:, None]  # (window, batch)
        loss, grads = eqx.filter_value_and_grad(loss_fn)(params, inputs[idx], targets[idx])
        updates, opt_state = opt.update(grads, opt_state, params)
        return eqx.apply_updates(params, updates), opt_state, loss

    losses = []
    for k in jax.random.split(key, n_iter):
        params, opt_state, loss = step(params, opt_state, k)
        losses.append(float(loss))
    return eqx.combine(params, static), np.array(losses)


def main(small: bool = False, out: str = "examples/out") -> dict:
    start = time.perf_counter()
    n_train, n_test = (10_000, 2_000) if small else (100_000, 20_000)
    data = lorenz(n_train + n_test + AHEAD)
    u = jnp.asarray(data[:-AHEAD])  # u[n] = (x, y, z)[n]
    y = jnp.asarray(data[AHEAD:])  # target[n] = (x, y, z)[n + 5]
    train = slice(WASHOUT, n_train - AHEAD)  # targets up to sample n_train - 1
    test = slice(n_train - AHEAD, None)  # targets from sample n_train on: held out
    esn = nt.training.EchoStateNetwork(
        3, 100, key=jax.random.key(0), spectral_radius=0.9, leak=0.3, input_scaling=0.05,
        connectivity=0.1,
    )  # fmt: skip
    _, states = nt.simulate(esn, esn.init_state(), u, dt=DT, n_steps=u.shape[0])
    results, times, preds = {}, {}, {}

    t = time.perf_counter()
    W, b = nt.training.ridge(states[train], y[train], alpha=1e-6)
    times["ridge"] = time.perf_counter() - t
    preds["ridge"] = states @ W + b

    t = time.perf_counter()
    online = nt.training.force(esn, u[: train.stop], y[: train.stop], alpha=1e-3, dt=DT,
                               washout=WASHOUT)  # fmt: skip
    times["force"] = time.perf_counter() - t
    preds["force"] = states @ online.W + online.b

    t = time.perf_counter()
    trained, losses = train_bptt(
        esn.with_readout(jnp.zeros((100, 3))), u[: train.stop], y[: train.stop],
        n_iter=300 if small else 5000, batch=16 if small else 32, window=200, washout=50,
        lr=1e-2, key=jax.random.key(1),
    )  # fmt: skip
    times["bptt"] = time.perf_counter() - t
    _, preds["bptt"] = nt.simulate(trained, trained.init_state(), u, dt=DT, n_steps=u.shape[0])

    for name, pred in preds.items():
        mse, mae = errors(pred[test], y[test])
        train_mse, train_mae = errors(pred[train], y[train])
        results[name] = dict(mse=mse, mae=mae, train_mse=train_mse, train_mae=train_mae)
    wall = time.perf_counter() - start
    print(f"Lorenz63, predict (x, y, z) {AHEAD} samples ({AHEAD * DT:g}) ahead; ESN of 100 units; "
          f"{n_train} training / {n_test} held-out samples")  # fmt: skip
    print(f"{'method':<7} {'test MSE':>10} {'test MAE':>10} {'train MAE':>10} "
          f"{'BrainPy Fig. 4':>15} {'fit s':>7}")  # fmt: skip
    for name, r in results.items():
        print(f"{name:<7} {r['mse']:10.3g} {r['mae']:10.3g} {r['train_mae']:10.3g} "
              f"{BRAINPY[name]:15.6f} {times[name]:7.1f}")  # fmt: skip
    print(f"(BrainPy's numbers are mean absolute errors on its training series.) wall time "
          f"{wall:.1f} s")  # fmt: skip

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = np.asarray(y[test])
    shown = slice(0, min(len(true), 5000))
    ts = (n_train + np.arange(len(true))) * DT
    labels = {"ridge": "ridge regression", "force": "FORCE (RLS)", "bptt": "BPTT (Adam)"}
    fig, axes = plt.subplots(3, 2, figsize=(10, 8), gridspec_kw=dict(width_ratios=[2.2, 1]))
    for row, name in zip(axes, preds):
        pred = np.asarray(preds[name][test])
        for i, (var, color) in enumerate(zip("xyz", ["C0", "C1", "C2"])):
            row[0].plot(ts[shown], true[shown, i], color="k", lw=2.5, alpha=0.3)
            row[0].plot(ts[shown], pred[shown, i], color=color, lw=0.8, label=var)
        row[0].set(ylabel=labels[name], title=f"{labels[name]}: held-out MSE "
                   f"{results[name]['mse']:.2g} (BrainPy {BRAINPY[name]:g})")  # fmt: skip
        row[1].semilogy(ts, np.abs(pred - true).mean(axis=1), color="C3", lw=0.3)
        row[1].axhline(BRAINPY[name], color="k", ls="--", lw=1, label="BrainPy (MAE)")
        row[1].set(ylabel="|error|, mean over x, y, z", title="held-out error")
    axes[0, 0].legend(frameon=False, ncol=3, loc="upper right")
    axes[0, 1].legend(frameon=False, loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel("Lorenz time (grey: true)")
    axes[-1, 1].set_xlabel("Lorenz time")
    fig.tight_layout()
    fig.savefig(path / "lorenz_esn.png", dpi=120)
    plt.close(fig)
    return dict(results=results, brainpy=BRAINPY, times=times, wall_time=wall,
                bptt_losses=losses)  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10x shorter series, 300 BPTT steps")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
