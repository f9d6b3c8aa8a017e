"""Perceptual decision making: a rate RNN trained by BPTT on the random-dot motion task.

A continuous-time ReLU network (`nt.training.RateRNN`, tau = 100 ms, recurrent noise) learns the
fixed-duration motion discrimination task of Song, Yang & Wang (2016, PLoS Comput Biol
12:e1004792, Fig 2; after Britten et al. 1992): hold fixation through 800 ms of two noisy
evidence streams, then report the stronger one when the fixation cue goes off. Trials are
generated (`nt.training.perceptual_decision`); training is optax Adam on the masked squared
error, through `nt.simulate` with `eqx.filter_value_and_grad`. The psychometric curve (accuracy
against coherence) is compared with the ideal observer of the same noisy inputs, an upper bound.

    python examples/perceptual_decision.py [--small] [--out examples/out]
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

DT = 20.0  # ms, alpha = dt / tau = 0.2 as in the paper
TEST_COHERENCES = (0.0, 3.2, 6.4, 12.8, 25.6, 51.2)


def run(model, trials, key):
    state = model.init_state((trials.inputs.shape[1],))
    _, z = nt.simulate(model, state, trials.inputs, dt=DT, n_steps=trials.inputs.shape[0], key=key)
    return z


def loss_fn(model, trials, key):
    z = run(model, trials, key)
    return jnp.sum(trials.mask * (z - trials.targets) ** 2) / jnp.sum(trials.mask)


def weibull(c, alpha, beta):
    """Quick's psychometric function for two alternatives (Britten et al. 1992, eq. 1)."""
    return 1.0 - 0.5 * np.exp(-((np.asarray(c) / alpha) ** beta))


def fit_weibull(c, p, n):
    """Maximum-likelihood (alpha, beta) of `weibull` on a grid: correct counts n p out of n."""
    alphas, betas = np.geomspace(1.0, 60.0, 300), np.linspace(0.5, 4.0, 120)
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    q = np.clip(weibull(c[None, None, :], a[..., None], b[..., None]), 1e-9, 1 - 1e-9)
    loglik = (n * p * np.log(q) + n * (1 - p) * np.log(1 - q)).sum(-1)
    i, j = np.unravel_index(np.argmax(loglik), loglik.shape)
    return float(alphas[i]), float(betas[j])


def main(small: bool = False, out: str = "examples/out") -> dict:
    n_rec = 50 if small else 100
    n_steps = 400 if small else 3000
    batch = 32 if small else 64
    n_test = 200 if small else 1000
    sigma_in, sigma_rec = 0.2, 0.1

    key = jax.random.key(0)
    k_model, k_train, k_test = jax.random.split(key, 3)
    model = nt.training.RateRNN(3, n_rec, 3, tau=100.0, noise=sigma_rec, key=k_model)
    optim = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3))
    opt_state = optim.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def train_step(model, opt_state, key):
        k_task, k_noise = jax.random.split(key)
        trials = nt.training.perceptual_decision(k_task, batch, sigma_in=sigma_in, dt=DT)
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, trials, k_noise)
        updates, opt_state = optim.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    start = time.perf_counter()
    losses = []
    for i, k in enumerate(jax.random.split(k_train, n_steps)):
        model, opt_state, loss = train_step(model, opt_state, k)
        losses.append(float(loss))
        if i % max(1, n_steps // 10) == 0 or i == n_steps - 1:
            print(f"step {i:5d}  loss {losses[-1]:.4f}")
    train_time = time.perf_counter() - start
    print(f"trained {n_steps} steps of {batch} trials in {train_time:.1f} s")

    @eqx.filter_jit
    def evaluate(model, key, coherence):
        k_task, k_noise = jax.random.split(key)
        trials = nt.training.perceptual_decision(
            k_task, n_test, coherences=coherence, sigma_in=sigma_in, dt=DT
        )
        z = run(model, trials, k_noise)
        return trials.choose(z) == trials.choice, z, trials

    accuracy, examples = [], {}
    for c, k in zip(TEST_COHERENCES, jax.random.split(k_test, len(TEST_COHERENCES))):
        correct, z, trials = evaluate(model, k, jnp.asarray([c]))
        accuracy.append(float(jnp.mean(correct)))
        examples[c] = (np.asarray(z[:, 0]), np.asarray(trials.inputs[:, 0]), int(trials.choice[0]))
    accuracy = np.asarray(accuracy)
    cohs = np.asarray(TEST_COHERENCES)
    ideal = np.asarray(nt.training.ideal_accuracy(cohs, sigma_in=sigma_in))
    alpha, beta = fit_weibull(cohs[1:], accuracy[1:], n_test)
    print(f"{'coherence %':>12} {'accuracy':>9} {'ideal':>7}   ({n_test} test trials each)")
    for c, a, p in zip(cohs, accuracy, ideal):
        print(f"{c:12.1f} {a:9.3f} {p:7.3f}")
    print(f"Weibull fit: threshold alpha = {alpha:.1f}% coherence (81.6% correct), "
          f"slope beta = {beta:.2f}")  # fmt: skip

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    ax = axes[0]
    fine = np.geomspace(1.0, 100.0, 200)
    ax.semilogx(cohs[1:], accuracy[1:], "ko", label="trained RateRNN")
    ax.semilogx(fine, weibull(fine, alpha, beta), "k-", lw=1, label="Weibull fit")
    ax.semilogx(fine, nt.training.ideal_accuracy(fine, sigma_in=sigma_in), "C0--", lw=1,
                label="ideal observer")  # fmt: skip
    ax.axhline(accuracy[0], color="0.6", lw=1, ls=":", label="0% coherence")
    ax.set(xlabel="coherence (%)", ylabel="fraction correct", ylim=(0.4, 1.02),
           title="psychometric curve")  # fmt: skip
    ax.legend(frameon=False, fontsize=8)
    t = DT * np.arange(1, len(examples[51.2][0]) + 1)
    for ax, c in zip(axes[1:], (51.2, 6.4)):
        z, u, choice = examples[c]
        ax.plot(t, z[:, 0], "k", label="fixation output")
        ax.plot(t, z[:, 1 + choice], "C2", label="correct choice")
        ax.plot(t, z[:, 2 - choice], "C3", label="wrong choice")
        ax.plot(t, u[:, 1 + choice] - u[:, 2 - choice], color="0.75", lw=0.8, zorder=0,
                label="evidence difference")  # fmt: skip
        ax.set(xlabel="time (ms)", ylabel="output", title=f"example trial, {c}% coherence")
    axes[1].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    fig.savefig(path / "perceptual_decision.png", dpi=120)
    plt.close(fig)
    return dict(
        coherences=cohs, accuracy=accuracy, ideal=ideal, n_test=n_test, losses=np.asarray(losses),
        weibull_alpha=alpha, weibull_beta=beta, train_time=train_time,
    )  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="smaller network, fewer steps")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
