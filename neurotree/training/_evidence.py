"""Generated trials of the evidence-accumulation (cue) task of Morcos & Harvey / Bellec et al."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

_OWNER = "evidence_accumulation"


class EvidenceTrials(eqx.Module):
    """A batch of evidence-accumulation trials, time-major (steps of `dt` ms).

    `spikes` (time, batch, 4 n_group) are the input spike trains (0/1 floats): neurons
    [0, n_group) fire for left cues, [n_group, 2 n_group) for right cues, [2 n_group, 3 n_group)
    in the recall window, [3 n_group, 4 n_group) are background noise. `cues` (batch, n_cues)
    are the sides of the cues (0 left, 1 right), `labels` (batch) the side with more cues.
    `recall` (time) is 1 in the last `recall_steps` steps (the window the loss is taken over).
    """

    spikes: Float[Array, "time batch n_in"]
    labels: Int[Array, " batch"]
    cues: Int[Array, "batch n_cues"]
    recall: Float[Array, " time"]
    dt: float = eqx.field(static=True)
    recall_steps: int = eqx.field(static=True)

    def choose(self, outputs: Float[Array, "time batch 2"]) -> Int[Array, " batch"]:
        """The network's choice: the larger output averaged over the recall window."""
        if outputs.ndim != 3 or outputs.shape[:2] != self.spikes.shape[:2]:
            raise ValueError(
                f"EvidenceTrials.choose: outputs of shape {outputs.shape}; expected (time, "
                f"batch, 2) with (time, batch) = {self.spikes.shape[:2]}."
            )
        return jnp.argmax(outputs[-self.recall_steps :].mean(axis=0), axis=-1)


def _steps(name: str, duration, dt: float, minimum: int = 1) -> int:
    n = round(float(duration) / dt)
    if n < minimum or not np.isclose(n * dt, float(duration), rtol=1e-6, atol=1e-9):
        raise ValueError(
            f"{_OWNER}({name}={duration!r}, dt={dt!r}): {name} must be a whole number of steps "
            f"dt (ms), at least {minimum}."
        )
    return n


def _probability(name: str, rate, dt: float) -> float:
    p = float(rate) * dt / 1000.0
    if not 0.0 <= p <= 1.0:
        raise ValueError(
            f"{_OWNER}({name}={rate!r}, dt={dt!r}): {name} (Hz) times dt must give a spike "
            "probability per step in [0, 1]."
        )
    return p


@functools.partial(jax.jit, static_argnums=tuple(range(1, 11)))
def _generate(
    key, batch, n_cues, n_gap, n_cue, n_delay, n_recall, n_group, p_cue, p_noise, p_major
):
    n_slot = n_gap + n_cue
    n_steps = n_cues * n_slot + n_delay + n_recall
    k_side, k_cues, k_spikes = jax.random.split(key, 3)
    favoured = jax.random.bernoulli(k_side, 0.5, (batch, 1))
    on_favoured = jax.random.bernoulli(k_cues, p_major, (batch, n_cues))
    cues = jnp.where(on_favoured, favoured, ~favoured).astype(jnp.int32)
    labels = (2 * jnp.sum(cues, axis=1) > n_cues).astype(jnp.int32)

    step = np.arange(n_steps)
    slot = step // n_slot
    in_cue = (slot < n_cues) & (step % n_slot >= n_gap)  # (time,)
    cue_side = cues[:, np.minimum(slot, n_cues - 1)].T  # (time, batch)
    left = jnp.where(in_cue[:, None] & (cue_side == 0), p_cue, 0.0)
    right = jnp.where(in_cue[:, None] & (cue_side == 1), p_cue, 0.0)
    is_recall = step >= n_steps - n_recall
    recall_p = jnp.broadcast_to(jnp.where(is_recall, p_cue, 0.0)[:, None], (n_steps, batch))
    noise_p = jnp.full((n_steps, batch), p_noise)
    probs = jnp.stack([left, right, recall_p, noise_p], axis=-1)  # (time, batch, 4)
    probs = jnp.repeat(probs, n_group, axis=-1)
    spikes = jax.random.bernoulli(k_spikes, probs).astype(jnp.result_type(float))
    return spikes, labels, cues, jnp.asarray(is_recall, spikes.dtype)


def evidence_accumulation(
    key: PRNGKeyArray,
    batch: int,
    *,
    n_cues: int = 7,
    dt: float = 1.0,
    cue: float = 100.0,
    gap: float = 50.0,
    delay: float = 1050.0,
    recall: float = 150.0,
    n_group: int = 10,
    cue_rate: float = 40.0,
    noise_rate: float = 10.0,
    p_major: float = 0.7,
) -> EvidenceTrials:
    """Trials of the evidence-accumulation task (virtual T-maze), as in Bellec et al. 2020, Fig 3.

    Timeline of a trial (defaults, in ms, those of Bellec et al.'s e-prop tutorial): `n_cues`
    cue slots of a `gap` (50) followed by a `cue` (100), i.e. 7 x 150 = 1050 ms; a `delay`
    (1050) of background only; the `recall` window (150): 2250 ms, 2250 steps at dt = 1 ms.
    During a cue its side's `n_group` (10) input neurons fire as Poisson processes at
    `cue_rate` (40 Hz); during the recall window the recall neurons do; the `n_group`
    background neurons fire at `noise_rate` (10 Hz) throughout. 40 input neurons by default.
    Each trial picks a favoured side uniformly, and each cue lands on it with probability
    `p_major` (0.7), else on the other side; the label is the side with more cues (`n_cues`
    must be odd, so there are no ties). Returns an `EvidenceTrials`.

    Reference: Morcos & Harvey (2016), History-dependent variability in population dynamics
    during evidence accumulation in cortex, Nat Neurosci 19(12):1672-1681; Bellec, Scherr,
    Subramoney, Hajek, Salaj, Legenstein & Maass (2020), Nat Commun 11:3625 (Fig. 3, Methods).
    """
    for name, value in (("batch", batch), ("n_cues", n_cues), ("n_group", n_group)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{_OWNER}({name}={value!r}): {name} must be a positive integer.")
    if n_cues % 2 == 0:
        raise ValueError(f"{_OWNER}(n_cues={n_cues}): n_cues must be odd, so no trial is a tie.")
    if not (isinstance(dt, int | float | np.number) and dt > 0):
        raise ValueError(f"{_OWNER}(dt={dt!r}): dt must be a positive step in ms.")
    if not 0.0 <= p_major <= 1.0:
        raise ValueError(f"{_OWNER}(p_major={p_major!r}): p_major must be a probability.")
    dt = float(dt)
    n_cue, n_gap = _steps("cue", cue, dt), _steps("gap", gap, dt, 0)
    n_delay, n_recall = _steps("delay", delay, dt, 0), _steps("recall", recall, dt)
    p_cue = _probability("cue_rate", cue_rate, dt)
    p_noise = _probability("noise_rate", noise_rate, dt)

    spikes, labels, cues, is_recall = _generate(
        key, batch, n_cues, n_gap, n_cue, n_delay, n_recall, n_group, p_cue, p_noise, p_major
    )
    return EvidenceTrials(
        spikes=spikes, labels=labels, cues=cues, recall=is_recall,
        dt=dt, recall_steps=n_recall,
    )  # fmt: skip
