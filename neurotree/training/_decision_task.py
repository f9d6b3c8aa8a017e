"""Generated trials of the random-dot motion discrimination task (fixed stimulus duration)."""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._core import concrete

_OWNER = "perceptual_decision"


class DecisionTrials(eqx.Module):
    """A batch of perceptual-decision trials, time-major (steps of `dt` ms).

    `inputs[..., 0]` is the fixation cue, `inputs[..., 1:]` the evidence for choices 0 and 1;
    `targets[..., 0]` is the fixation output, `targets[..., 1:]` the two choice outputs; `mask`
    weighs each target in the loss. `coherence` is in % (unsigned), `choice` the correct choice.
    The epochs are `fixation_steps`, `stimulus_steps`, `decision_steps` long, in that order.
    """

    inputs: Float[Array, "time batch 3"]
    targets: Float[Array, "time batch 3"]
    mask: Float[Array, "time batch 3"]
    coherence: Float[Array, " batch"]
    choice: Int[Array, " batch"]
    dt: float = eqx.field(static=True)
    fixation_steps: int = eqx.field(static=True)
    stimulus_steps: int = eqx.field(static=True)
    decision_steps: int = eqx.field(static=True)

    def choose(self, outputs: Float[Array, "time batch n_out"]) -> Int[Array, " batch"]:
        """The network's choice: the larger choice output, averaged over the decision epoch."""
        if outputs.shape != self.targets.shape:
            raise ValueError(
                f"DecisionTrials.choose: outputs of shape {outputs.shape}; expected the targets' "
                f"shape {self.targets.shape} (time, batch, fixation + 2 choices)."
            )
        decision = outputs[self.fixation_steps + self.stimulus_steps :, :, 1:]
        return jnp.argmax(decision.mean(axis=0), axis=-1)


def _steps(name: str, duration, dt: float) -> int:
    n = round(float(duration) / dt)
    if n < 1 or not np.isclose(n * dt, float(duration), rtol=1e-6, atol=1e-9):
        raise ValueError(
            f"{_OWNER}({name}={duration!r}, dt={dt!r}): {name} must be a positive whole number "
            "of steps dt (ms)."
        )
    return n


def perceptual_decision(
    key: PRNGKeyArray,
    batch: int,
    *,
    coherences: ArrayLike | Sequence[float] = (3.2, 6.4, 12.8, 25.6, 51.2),
    dt: float = 20.0,
    fixation: float = 100.0,
    stimulus: float = 800.0,
    decision: float = 300.0,
    sigma_in: float = 0.2,
    tau: float = 100.0,
    lo: float = 0.2,
    hi: float = 1.0,
) -> DecisionTrials:
    """Trials of the random-dot motion task, as trained by Song, Yang & Wang (2016), Fig 2.

    Each trial is a fixation epoch (`fixation` ms), a stimulus epoch (`stimulus` ms) and a
    decision epoch (`decision` ms); the defaults 100 / 800 / 300 ms and the coherences
    3.2 x (1, 2, 4, 8, 16) % are the paper's. The coherence c of each trial is drawn uniformly
    from `coherences` (in %, in [0, 100]) and the correct choice from {0, 1}. Inputs
    (time, batch, 3):

        fixation cue   1 during fixation and stimulus, 0 in the decision epoch (the go cue)
        evidence k     during the stimulus, (1 +- c / 100) / 2 + sqrt(2 tau / dt) sigma_in N(0, 1)
                       with + for the correct choice: the mean difference is c / 100

    The noise is independent per step and channel; scaled by sqrt(2 tau / dt) as in the paper it
    is white noise whose effect does not depend on dt. Targets (time, batch, 3): the fixation
    output is `hi` until the go cue, then `lo`; the correct choice output is `hi` in the
    decision epoch, both choice outputs are `lo` before. The mask is 1 for the fixation output
    everywhere and for the choice outputs in the fixation and decision epochs (the paper leaves
    the stimulus epoch free for the choice outputs). At c = 0 the "correct" choice is a coin
    flip. `ideal_accuracy` is the best accuracy any observer of these inputs can reach.
    The generator is written in JAX (jit-able in everything but `batch` and the durations), so
    trials are drawn inside a jitted training step; it needs no task package (neurogym's
    `PerceptualDecisionMaking` is the same task as a gym environment, stepped in Python).

    Reference: Britten, Shadlen, Newsome & Movshon (1992), The analysis of visual motion: a
    comparison of neuronal and psychophysical performance, J Neurosci 12(12):4745-4765;
    Song, Yang & Wang (2016), PLoS Comput Biol 12(2):e1004792.
    """
    if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
        raise ValueError(f"{_OWNER}(batch={batch!r}): batch must be a positive integer.")
    if not (isinstance(dt, int | float | np.number) and dt > 0):
        raise ValueError(f"{_OWNER}(dt={dt!r}): dt must be a positive step in ms.")
    dt = float(dt)
    n_fix = _steps("fixation", fixation, dt)
    n_stim = _steps("stimulus", stimulus, dt)
    n_dec = _steps("decision", decision, dt)
    cohs = jnp.atleast_1d(jnp.asarray(coherences, dtype=jnp.result_type(float)))
    values = concrete(cohs)
    if cohs.ndim != 1 or (values is not None and not np.all((values >= 0) & (values <= 100))):
        raise ValueError(
            f"{_OWNER}(coherences={coherences!r}): expected a 1-D list of coherences in % "
            "within [0, 100]."
        )
    if not sigma_in >= 0:
        raise ValueError(f"{_OWNER}(sigma_in={sigma_in!r}): sigma_in must be >= 0.")
    if not tau > 0:
        raise ValueError(f"{_OWNER}(tau={tau!r}): tau must be a positive time in ms.")
    if not hi > lo:
        raise ValueError(f"{_OWNER}(lo={lo!r}, hi={hi!r}): hi must be above lo.")

    k_coh, k_choice, k_noise = jax.random.split(key, 3)
    coherence = jax.random.choice(k_coh, cohs, (batch,))
    choice = jax.random.bernoulli(k_choice, 0.5, (batch,)).astype(jnp.int32)
    n_steps = n_fix + n_stim + n_dec
    step = jnp.arange(n_steps)[:, None]
    in_stim = (step >= n_fix) & (step < n_fix + n_stim)
    in_dec = step >= n_fix + n_stim

    sign = jnp.where(choice == 0, 1.0, -1.0)  # +1: evidence favours choice 0
    mean = 0.5 * (1.0 + jnp.stack([sign, -sign], -1) * coherence[:, None] / 100.0)
    noise = np.sqrt(2.0 * tau / dt) * sigma_in * jax.random.normal(k_noise, (n_steps, batch, 2))
    evidence = jnp.where(in_stim[..., None], mean + noise, 0.0)
    fix_cue = jnp.broadcast_to(jnp.where(in_dec, 0.0, 1.0), (n_steps, batch))
    inputs = jnp.concatenate([fix_cue[..., None], evidence], -1)

    fix_target = jnp.where(in_dec, lo, hi) * jnp.ones((1, batch))
    chosen = jax.nn.one_hot(choice, 2)
    choice_target = jnp.where(in_dec[..., None], lo + (hi - lo) * chosen, lo)
    targets = jnp.concatenate([fix_target[..., None], choice_target], -1)
    choice_mask = jnp.broadcast_to(jnp.where(in_stim, 0.0, 1.0)[..., None], (n_steps, batch, 2))
    mask = jnp.concatenate([jnp.ones((n_steps, batch, 1)), choice_mask], -1)
    return DecisionTrials(
        inputs=inputs, targets=targets, mask=mask, coherence=coherence, choice=choice, dt=dt,
        fixation_steps=n_fix, stimulus_steps=n_stim, decision_steps=n_dec,
    )  # fmt: skip


def ideal_accuracy(
    coherence: ArrayLike, *, stimulus: float = 800.0, sigma_in: float = 0.2, tau: float = 100.0
) -> Float[Array, "..."]:
    """The accuracy of the ideal observer of `perceptual_decision`'s inputs at `coherence` (%).

    The evidence difference averaged over the stimulus epoch is Gaussian with mean c / 100 and
    standard deviation 2 sigma_in sqrt(tau / stimulus) (for any dt), so choosing its sign is
    correct with probability Phi(c / 100 / (2 sigma_in sqrt(tau / stimulus))): the likelihood
    ratio test, which no decoder of the same inputs can beat.
    """
    c = jnp.asarray(coherence, dtype=jnp.result_type(float))
    spread = 2.0 * sigma_in * np.sqrt(tau / stimulus)
    if spread == 0:  # noiseless: any c > 0 is seen perfectly, c = 0 is a coin flip
        return jnp.where(c > 0, 1.0, 0.5)
    return jax.scipy.stats.norm.cdf(c / 100.0 / spread)
