"""Poisson spike source."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check, check_dt, concrete, param

# Poisson(lam) is drawn as a sum of parts of mean at most _PART_MAX, each by inversion over a
# fixed number of CDF terms: at a mean of 1 the k-th term is at most 1 / k!, below the
# resolution of u (2^-24 in float32, 2^-53 in float64) from k = 11 (float32) and k = 18
# (float64) on, where F stops growing, so no count is cut off. jax.random.poisson is not used:
# it runs both of its samplers on every element and is slow to run and to compile.
_PART_MAX = 1.0
_TERMS = {4: 12, 8: 19}  # by itemsize

_NO_KEY = (
    "PoissonInput draws its spikes at random but no key was given; pass "
    "`key=jax.random.key(seed)` to `nt.simulate` (or to the call)."
)


class PoissonState(eqx.Module):
    spike: Float[Array, "*shape"]


class PoissonInput(DynamicalSystem):
    """Independent Poisson spike trains.

        spike_n ~ Poisson(rate dt / 1000)   independently for every neuron and step n

    Units: rate in Hz (spikes per second), dt in ms. The spike value is the number of spikes in
    the step: at high rates (rate dt / 1000 not small) a neuron may fire several times in one step
    and the count (2, 3, ...) is kept, so no spike is lost and the mean of `spike` is
    rate dt / 1000 at any rate; a projection delivers count x weight.

    Input: None (use `rate`), or this step's rate in Hz (a scalar, one value per neuron, or the
    full state shape), which replaces `rate` for that step: pass e.g. `nt.inputs.Section` or a
    time series to `nt.simulate` for time-varying rates. Outputs: the spikes (floats; no gradient
    flows through the random draw). Needs a key.

    Reference: Dayan & Abbott (2001), Theoretical Neuroscience, ch. 1.4, MIT Press.
    """

    size: tuple[int, ...] = eqx.field(static=True)
    rate: Float[Array, "*#size"]

    def __init__(self, size: int | tuple[int, ...], rate: ArrayLike):
        self.size = as_shape("PoissonInput", size)
        self.rate = param("PoissonInput", "rate", rate, self.size)
        check("PoissonInput", "rate", self.rate, lambda v: v >= 0, "non-negative (Hz)")

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> PoissonState:
        shape = tuple(batch_shape) + self.size
        return PoissonState(spike=jnp.zeros(shape, self.rate.dtype))

    def __call__(
        self, state: PoissonState, rate=None, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[PoissonState, Float[Array, "*shape"]]:
        check_dt("PoissonInput", dt)
        if key is None:
            raise ValueError(_NO_KEY)
        shape = state.spike.shape
        if rate is None:
            rate = jnp.broadcast_to(self.rate, shape)
        else:
            if concrete(rate) is not None:
                check("PoissonInput", "rate", rate, lambda v: v >= 0, "non-negative (Hz)")
            rate = broadcast_input("PoissonInput", "rate", rate, shape)
            if concrete(rate) is None:
                rate = eqx.error_if(rate, rate < 0, "PoissonInput: the input rate must be >= 0 Hz.")
        spike = _poisson_counts(key, rate * dt / 1000.0).astype(state.spike.dtype)
        return PoissonState(spike=spike), spike


def _poisson_counts(key: PRNGKeyArray, lam: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """Poisson(lam) samples, elementwise, as floats of lam's dtype.

    A mean lam is split into m = ceil(lam) equal parts (Poisson(lam) is the sum of m independent
    Poisson(lam / m)), each drawn by inversion: the number of CDF values F(0), F(1), ... below a
    uniform u (Devroye 1986, Non-Uniform Random Variate Generation, ch. X.3). The terms are a
    fixed unrolled sequence, which XLA fuses into one elementwise loop; spike trains (lam << 1)
    take a single part.
    """
    m = jnp.maximum(jnp.ceil(lam / _PART_MAX), 1.0)
    part = lam / m

    def draw(j, lam_j):
        u = jax.random.uniform(jax.random.fold_in(key, j), lam.shape, lam.dtype)
        p = jnp.exp(-lam_j)
        cdf, count = p, jnp.zeros_like(lam)
        for k in range(1, _TERMS.get(lam.dtype.itemsize, 19) + 1):
            count = count + (u > cdf)
            p = p * (lam_j * (1.0 / k))
            cdf = cdf + p
        return count

    def add_part(carry):
        j, count = carry
        return j + 1, count + draw(j, jnp.where(j < m, part, 0.0))

    n_parts = jnp.max(m, initial=1.0)
    return jax.lax.while_loop(lambda c: c[0] < n_parts, add_part, (0, jnp.zeros_like(lam)))[1]
