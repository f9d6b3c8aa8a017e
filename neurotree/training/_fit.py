"""`fit`: the optax training loop that BPTT scripts keep rewriting."""

import math
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import PRNGKeyArray, PyTree

_LOSS_HELP = (
    "loss_fn(model, batch, key) must return a scalar loss, or (loss, aux) with aux a dict from "
    "name to scalar metric when has_aux=True."
)


def _objective(params, static, batch, key, loss_fn, has_aux):
    out = loss_fn(eqx.combine(params, static), batch, key)
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
            raise ValueError(
                f"fit(has_aux=True): loss_fn returned {type(out).__name__}. {_LOSS_HELP}"
            )
        loss, aux = out
    else:
        if isinstance(out, tuple):
            raise ValueError(
                f"fit: loss_fn returned a tuple of {len(out)}; pass has_aux=True if it returns "
                f"(loss, aux). {_LOSS_HELP}"
            )
        loss, aux = out, {}
    reserved = [k for k in aux if k in ("loss", "time") or str(k).startswith("eval_")]
    if reserved:
        raise ValueError(
            f"fit: loss_fn's aux names {reserved} clash with history's own keys ('loss', "
            "'time', 'eval_*'); rename them."
        )
    for name, value in (("loss", loss), *((f"aux[{k!r}]", v) for k, v in aux.items())):
        if jnp.shape(value) != ():
            raise ValueError(
                f"fit: loss_fn returned {name} of shape {jnp.shape(value)}; expected a scalar. "
                f"{_LOSS_HELP}"
            )
    return loss, aux


@eqx.filter_jit
def _train_step(params, static, opt_state, batch, key, loss_fn, optimizer, has_aux):
    (loss, aux), grads = eqx.filter_value_and_grad(_objective, has_aux=True)(
        params, static, batch, key, loss_fn, has_aux
    )
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return eqx.apply_updates(params, updates), opt_state, loss, aux


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"fit({name}={value!r}): {name} must be a positive integer.")
    return int(value)


def _n_samples(data) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves or not all(eqx.is_array_like(x) and np.ndim(x) >= 1 for x in leaves):
        raise ValueError(
            "fit: data must be a PyTree of arrays with a leading sample axis, e.g. (x, labels) "
            "with x of shape (N, ...) and labels of shape (N,); got shapes "
            f"{jax.tree.map(np.shape, data)}."
        )
    lengths = {int(np.shape(x)[0]) for x in leaves}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(
            "fit: every array in data needs the same non-zero number of samples along axis 0; "
            f"got leading axes {sorted(lengths)} (shapes {jax.tree.map(np.shape, data)})."
        )
    return lengths.pop()


def _progress_bar(total: int):
    try:
        from tqdm.auto import tqdm
    except ImportError as e:
        raise ImportError(
            "fit(progress=True) needs tqdm: pip install 'neurotree[progress]', or pass "
            "progress=False."
        ) from e
    return tqdm(total=total, unit="batch", desc="fit")


def _scalar_dict(owner: str, metrics) -> dict[str, float]:
    if not isinstance(metrics, dict):
        raise ValueError(
            f"fit: {owner} returned {type(metrics).__name__}; expected a dict from name to scalar."
        )
    out = {}
    for name, value in metrics.items():
        if np.shape(value) != ():
            raise ValueError(
                f"fit: {owner} returned {name!r} of shape {np.shape(value)}; expected a scalar."
            )
        out[str(name)] = float(value)
    return out


def fit(
    loss_fn: Callable[..., Any],
    model: PyTree,
    optimizer: optax.GradientTransformation,
    data: PyTree,
    *,
    epochs: int,
    batch_size: int,
    key: PRNGKeyArray,
    eval_fn: Callable[[PyTree, PyTree], dict] | None = None,
    eval_data: PyTree | None = None,
    has_aux: bool = False,
    trainable: Any = eqx.is_inexact_array,
    opt_state: PyTree | None = None,
    progress: bool = True,
) -> tuple[PyTree, PyTree, dict[str, np.ndarray]]:
    """Train `model` by minimising `loss_fn` with `optimizer`; return `(model, opt_state, history)`.

    A plain optax loop: each epoch shuffles the samples of `data` (a PyTree of arrays with a
    leading sample axis of length N) and visits all of them in ceil(N / batch_size) batches,
    the last one partial when batch_size does not divide N (it is kept, never dropped; a
    batch_size above N gives one batch of all N). Each batch is one call of an
    `eqx.filter_jit`'d step: `eqx.filter_value_and_grad` of
    `loss_fn(model, batch, key)`, then `optimizer.update` and `eqx.apply_updates` (compiled
    once per batch shape: twice with a partial last batch).

    **Arguments:**
    - `loss_fn(model, batch, key)`: a scalar loss (averaged over the batch), or with
      `has_aux=True` a pair `(loss, aux)` with `aux` a dict of scalar metrics. `key` is fresh
      for every step (for encoders and noise): `fold_in(fold_in(key, epoch), 1 + batch_index)`.
    - `key`: shuffles the data (epoch e uses `fold_in(fold_in(key, e), 0)`) and seeds the steps;
      the same key gives the same run.
    - `eval_fn(model, eval_data) -> dict` of scalar metrics, called after every epoch outside
      the step (jit it yourself if it is costly); `eval_data` is passed through as given.
    - `trainable`: which leaves are trained, as the `filter_spec` of `eqx.partition` (a
      callable on leaves or a PyTree of bools); by default every float array. The others
      (e.g. time constants) are held fixed and get no optimiser state.
    - `opt_state`: resume from this optimiser state (e.g. from `load_checkpoint`); by default
      `optimizer.init` of the trainable leaves.
    - `progress`: a tqdm bar over the batches (needs the optional `tqdm`).

    **Returns:** the trained model, the final optimiser state and `history`, a dict of NumPy
    arrays of length `epochs`: `"loss"`, the mean loss over the epoch's samples (each batch's
    loss weighted by its size, so a partial batch counts for what it holds); each aux metric
    under its own name, averaged the same way; each metric of `eval_fn` as `"eval_<name>"`;
    and `"time"`, the wall-clock seconds of the epoch's training steps (compilation included).

    Reference: Werbos (1990), Backpropagation through time: what it does and how to do it,
    Proc IEEE 78(10):1550-1560; Kingma & Ba (2015), Adam, ICLR (optax's `adam`).
    """
    if not callable(loss_fn):
        raise ValueError(f"fit(loss_fn={loss_fn!r}): expected loss_fn(model, batch, key).")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise ValueError(
            f"fit(optimizer={optimizer!r}): expected an optax GradientTransformation, e.g. "
            "optax.adam(1e-3)."
        )
    epochs = _positive_int("epochs", epochs)
    batch_size = _positive_int("batch_size", batch_size)
    if not isinstance(has_aux, bool):
        raise ValueError(f"fit(has_aux={has_aux!r}): has_aux must be True or False.")
    if eval_data is not None and eval_fn is None:
        raise ValueError(
            "fit: eval_data was given without eval_fn; pass eval_fn(model, eval_data) -> dict "
            "of metrics, or drop eval_data."
        )
    if eval_fn is not None and not callable(eval_fn):
        raise ValueError(f"fit(eval_fn={eval_fn!r}): expected eval_fn(model, eval_data) -> dict.")
    typed = isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    legacy = isinstance(key, jax.Array) and key.shape == (2,) and key.dtype == jnp.uint32
    if not (typed or legacy):
        raise ValueError(f"fit(key={key!r}): expected a PRNG key, e.g. jax.random.key(0).")
    n = _n_samples(data)
    params, static = eqx.partition(model, trainable)
    if not jax.tree.leaves(params):
        raise ValueError(
            "fit: no trainable leaves in the model (trainable selects none); nothing to train."
        )
    if opt_state is None:
        opt_state = optimizer.init(params)
    n_batches = math.ceil(n / batch_size)
    bar = _progress_bar(epochs * n_batches) if progress else None
    history: dict[str, list[float]] = {}

    def record(name: str, value: float):
        history.setdefault(name, []).append(value)

    try:
        for epoch in range(epochs):
            epoch_key = jax.random.fold_in(key, epoch)
            order = np.asarray(jax.random.permutation(jax.random.fold_in(epoch_key, 0), n))
            totals: dict[str, float] = {}
            start = time.perf_counter()
            for b in range(n_batches):
                idx = order[b * batch_size : (b + 1) * batch_size]
                batch = jax.tree.map(lambda x, idx=idx: x[idx], data)
                step_key = jax.random.fold_in(epoch_key, 1 + b)
                params, opt_state, loss, aux = _train_step(
                    params, static, opt_state, batch, step_key, loss_fn, optimizer, has_aux
                )
                for name, value in {"loss": loss, **aux}.items():
                    totals[name] = totals.get(name, 0.0) + float(value) * len(idx)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=f"{epoch + 1}/{epochs}", loss=f"{float(loss):.4g}")
            elapsed = time.perf_counter() - start
            for name, total in totals.items():
                record(name, total / n)
            if eval_fn is not None:
                metrics = _scalar_dict("eval_fn", eval_fn(eqx.combine(params, static), eval_data))
                for name, value in metrics.items():
                    record(f"eval_{name}", value)
            record("time", elapsed)
    finally:
        if bar is not None:
            bar.close()
    return eqx.combine(params, static), opt_state, {k: np.asarray(v) for k, v in history.items()}
