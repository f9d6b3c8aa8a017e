"""Ridge regression: the closed-form linear readout fitted offline to recorded states."""

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._core import check
from ..kernels._common import exact_precision


def ridge(
    states: ArrayLike, targets: ArrayLike, *, alpha: ArrayLike, bias: bool = True
) -> tuple[Float[Array, "n m"], Float[Array, " m"]]:
    """Ridge (Tikhonov-regularised least-squares) readout, in closed form.

        W, b = argmin_{W, b}  sum_i |y_i - x_i W - b|^2 + alpha |W|_F^2

    over every sample i of `states` x (T, *batch, n) and `targets` y (T, *batch, m), flattened
    over time and batch. The bias b is not penalised: with x and y centred on their means,
    W = (Xc^T Xc + alpha I)^-1 Xc^T Yc and b = mean(y) - mean(x) W (with `bias=False`, no
    centring and b = 0). W is computed from the thin SVD Xc = U S V^T as
    W = V diag(s / (s^2 + alpha)) U^T Yc, which never forms Xc^T Xc (whose condition number is
    the square of Xc's), so float32 stays accurate for the nearly collinear states of a
    reservoir. `alpha` > 0 is in the units of x^2 (it adds to the squared singular values).

    Returns `(W, b)`, W (n, m) and b (m,), so that predictions are `states @ W + b`.

    Reference: Hoerl & Kennard (1970), Technometrics 12:55; Lukoševičius (2012), A practical
    guide to applying echo state networks, Neural Networks: Tricks of the Trade, Springer.
    """
    x = jnp.asarray(states)
    y = jnp.asarray(targets)
    for name, a in (("states", x), ("targets", y)):
        if a.ndim < 2:
            raise ValueError(
                f"ridge: {name} of shape {a.shape}; expected (T, *batch, n) with a leading "
                "time axis and a trailing feature axis (use a[..., None] for one feature)."
            )
    if x.shape[:-1] != y.shape[:-1]:
        raise ValueError(
            f"ridge: states of shape {x.shape} and targets of shape {y.shape} do not pair up; "
            "they need the same leading (time, *batch) axes, e.g. (T, n) and (T, m)."
        )
    if x.shape[-1] == 0 or y.shape[-1] == 0 or int(np.prod(x.shape[:-1])) == 0:
        raise ValueError(f"ridge: empty states {x.shape} or targets {y.shape}.")
    if isinstance(alpha, bool) or alpha is None:
        raise ValueError(f"ridge(alpha={alpha!r}): alpha must be a positive number.")
    check("ridge", "alpha", alpha, lambda v: v > 0, "a positive regularisation strength")
    dtype = jnp.result_type(x.dtype, y.dtype, float)
    x = x.reshape(-1, x.shape[-1]).astype(dtype)
    y = y.reshape(-1, y.shape[-1]).astype(dtype)
    if bias:
        x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
        x, y = x - x_mean, y - y_mean
    u, s, vt = jnp.linalg.svd(x, full_matrices=False)
    w = jnp.matmul(vt.T * (s / (s * s + alpha)), jnp.matmul(u.T, y, precision=exact_precision()),
                   precision=exact_precision())  # fmt: skip
    b = (
        y_mean - jnp.matmul(x_mean, w, precision=exact_precision())
        if bias
        else jnp.zeros(y.shape[-1], dtype)
    )
    return w, b
