"""Losses and metrics on readouts and spike records.

Conventions: logits (*batch, n_classes) (e.g. a readout of an output layer), integer labels
(*batch); spike records (T, *batch, n) as `nt.simulate` returns them (time first). Each
function returns a scalar: a mean over the batch (and neurons), so it does not grow with the
batch size. The regularizers are added to a task loss with a coefficient of the user's choice.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from .._core import concrete


def _logits_labels(owner: str, logits, labels) -> tuple[Array, Array]:
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"{owner}: labels of dtype {labels.dtype}; expected integer class indices "
            "(e.g. labels.astype(int))."
        )
    if logits.ndim < 1 or logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"{owner}: logits of shape {logits.shape} and labels of shape {labels.shape}; "
            "expected logits (*batch, n_classes) and labels (*batch)."
        )
    if labels.size == 0:
        raise ValueError(f"{owner}: an empty batch (labels of shape {labels.shape}).")
    n_classes = logits.shape[-1]
    known = concrete(labels)
    if known is not None and np.any((known < 0) | (known >= n_classes)):
        bad = known[(known < 0) | (known >= n_classes)].reshape(-1)[:5]
        raise ValueError(
            f"{owner}: labels {bad} outside [0, {n_classes}) for logits with {n_classes} classes."
        )
    return logits, labels


def cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Float[Array, ""]:
    """Softmax cross-entropy with integer labels, averaged over the batch:

        L = mean_b [ -z_{b, y_b} + log sum_c exp(z_{b, c}) ]

    (optax's `softmax_cross_entropy_with_integer_labels`, numerically stable).

    Reference: Goodfellow, Bengio & Courville (2016), Deep Learning, ch. 6.2.2, MIT Press.
    """
    logits, labels = _logits_labels("cross_entropy", logits, labels)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def accuracy(logits: ArrayLike, labels: ArrayLike) -> Float[Array, ""]:
    """The fraction of the batch whose largest logit is at the label (ties: the first)."""
    logits, labels = _logits_labels("accuracy", logits, labels)
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels).astype(logits.dtype)


def _spikes(owner: str, spikes) -> Float[Array, "t *rest n"]:
    spikes = jnp.asarray(spikes)
    if not jnp.issubdtype(spikes.dtype, jnp.floating):
        spikes = spikes.astype(jnp.result_type(float))
    if spikes.ndim < 2 or 0 in spikes.shape:
        raise ValueError(
            f"{owner}: spikes of shape {spikes.shape}; expected a non-empty record "
            "(T, *batch, n) as returned by nt.simulate."
        )
    return spikes


def rate_regularizer(
    spikes: ArrayLike, *, dt: ArrayLike, target_hz: ArrayLike, per_neuron: bool = False
) -> Float[Array, ""]:
    """Squared deviation of firing rates from a target, in Hz^2.

        r_i = (1000 / (T dt)) mean_b sum_t s_{t, b, i}            (Hz; dt in ms)
        L = (mean_i r_i - target)^2                              (per_neuron=False)
        L = mean_i (r_i - target)^2                              (per_neuron=True)

    over the record's T steps, averaged over the batch axes. The population form holds the
    mean rate to the target and lets neurons differ; the per-neuron form is homeostatic for
    each neuron. Its gradient reaches the weights through the surrogate of the spikes.

    Reference: Neftci, Mostafa & Zenke (2019), Surrogate gradient learning in spiking neural
    networks, IEEE Signal Processing Magazine 36(6):51-63 (activity regularisation).
    """
    spikes = _spikes("rate_regularizer", spikes)
    h, r = concrete(dt), concrete(target_hz)
    if h is not None and (h.ndim != 0 or not h > 0):
        raise ValueError(f"rate_regularizer(dt={dt!r}): dt must be a positive step in ms.")
    if r is not None and (r.ndim != 0 or not r >= 0):
        raise ValueError(
            f"rate_regularizer(target_hz={target_hz!r}): target_hz must be a non-negative "
            "rate in Hz."
        )
    duration_s = spikes.shape[0] * jnp.asarray(dt, spikes.dtype) / 1000.0
    rates = jnp.sum(spikes, axis=0).reshape(-1, spikes.shape[-1]).mean(0) / duration_s
    if per_neuron:
        return jnp.mean(jnp.square(rates - target_hz))
    return jnp.square(jnp.mean(rates) - target_hz)


def spike_count_regularizer(
    spikes: ArrayLike, *, low: ArrayLike | None = None, high: ArrayLike | None = None
) -> Float[Array, ""]:
    """Penalise spike counts below `low` and above `high`, per neuron and sample.

        c_{b, i} = sum_t s_{t, b, i}
        L = mean_{b, i} [ relu(low - c_{b, i})^2 + relu(c_{b, i} - high)^2 ]

    Counts are over the whole record (T steps). A lower bound keeps neurons from falling
    silent (silent neurons pass no gradient); an upper bound keeps activity sparse. Either
    bound may be None (not applied); give at least one. Zenke & Vogels apply the upper bound
    to the population mean count; with per-neuron bounds here, pass the record of a
    population averaged as needed (e.g. `spikes.mean(-1, keepdims=True)`).

    Reference: Zenke & Vogels (2021), Neural Computation 33(4):899-925 (eqs. of the
    activity regularisers in Methods).
    """
    spikes = _spikes("spike_count_regularizer", spikes)
    if low is None and high is None:
        raise ValueError(
            "spike_count_regularizer(low=None, high=None): give a lower bound, an upper bound "
            "or both (spike counts over the record)."
        )
    lo = None if low is None else concrete(low)
    hi = None if high is None else concrete(high)
    for name, v in (("low", lo), ("high", hi)):
        if v is not None and (v.ndim != 0 or not v >= 0):
            raise ValueError(
                f"spike_count_regularizer({name}={v!r}): {name} must be a non-negative count."
            )
    if lo is not None and hi is not None and not lo <= hi:
        raise ValueError(
            f"spike_count_regularizer(low={float(lo)}, high={float(hi)}): low must not exceed high."
        )
    counts = jnp.sum(spikes, axis=0)
    loss = jnp.zeros((), spikes.dtype)
    if low is not None:
        loss = loss + jnp.mean(jnp.square(jax.nn.relu(low - counts)))
    if high is not None:
        loss = loss + jnp.mean(jnp.square(jax.nn.relu(counts - high)))
    return loss
