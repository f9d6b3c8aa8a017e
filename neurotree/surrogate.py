"""Spike functions with surrogate gradients.

Each is a module `fn(x) -> spikes`. The forward pass is the exact Heaviside step: 1.0 where
x >= 0, else 0.0, so simulations are unchanged by the choice. The backward pass replaces the
Heaviside's zero-almost-everywhere derivative by the smooth `fn.derivative(x)` documented on each
class, so spiking networks train by backpropagation through time. Neurons call it on `v - v_th`
(mV). The surrogate's own parameters receive no gradient.

Every derivative is written to stay finite for any float input (no exp overflow): for
|x| = 1e4 in float32 the gradient is a small finite number or exactly zero, never NaN or Inf.
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from ._core import check, param

__all__ = ["Arctan", "FastSigmoid", "Gaussian", "PiecewiseLinear", "Sigmoid", "SpikeFunction"]


class SpikeFunction(eqx.Module):
    """Base class: Heaviside forward, `derivative` backward."""

    @abc.abstractmethod
    def derivative(self, x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        """The surrogate derivative d spike / d x used in the backward pass."""

    def __call__(self, x: Real[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        return _spike(self, x)


@jax.custom_jvp
def _spike(fn: SpikeFunction, x: Array) -> Array:
    return (x >= 0).astype(x.dtype)


@_spike.defjvp
def _spike_jvp(primals, tangents):
    fn, x = primals
    _, x_dot = tangents
    return _spike(fn, x), fn.derivative(x) * x_dot


def _positive(owner: str, name: str, value) -> Array:
    value = param(owner, name, value)
    check(owner, name, value, lambda v: v > 0, "positive")
    return value


class Sigmoid(SpikeFunction):
    """Derivative of a logistic sigmoid: alpha * s(alpha x) * (1 - s(alpha x)).

    Reference: Neftci, Mostafa & Zenke (2019), IEEE Signal Processing Magazine 36(6), 51-63.
    """

    alpha: Float[Array, ""]

    def __init__(self, alpha: ArrayLike = 4.0):
        self.alpha = _positive("Sigmoid", "alpha", alpha)

    def derivative(self, x):
        z = self.alpha * x
        # s(z) s(-z) rather than s(z) (1 - s(z)): 1 - s(z) cancels in float32 for z >~ 8.
        return self.alpha * jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)


class FastSigmoid(SpikeFunction):
    """SuperSpike's fast sigmoid derivative: 1 / (1 + alpha |x|)^2.

    Reference: Zenke & Ganguli (2018), SuperSpike, Neural Computation 30(6), 1514-1541.
    """

    alpha: Float[Array, ""]

    def __init__(self, alpha: ArrayLike = 10.0):
        self.alpha = _positive("FastSigmoid", "alpha", alpha)

    def derivative(self, x):
        return 1.0 / jnp.square(1.0 + self.alpha * jnp.abs(x))


class Arctan(SpikeFunction):
    """Derivative of (1/pi) arctan(pi alpha x / 2) + 1/2: alpha / (2 (1 + (pi alpha x / 2)^2)).

    Reference: Fang et al. (2021), Incorporating learnable membrane time constant, ICCV, 2661-2671.
    """

    alpha: Float[Array, ""]

    def __init__(self, alpha: ArrayLike = 2.0):
        self.alpha = _positive("Arctan", "alpha", alpha)

    def derivative(self, x):
        return self.alpha / (2.0 * (1.0 + jnp.square(0.5 * math.pi * self.alpha * x)))


class PiecewiseLinear(SpikeFunction):
    """Triangular derivative ReLU(alpha * (width - |x|)), zero outside |x| < width.

    Reference: Wang et al. (2023), BrainPy, eLife 12:e86365 (`brainpy.math.surrogate.relu_grad`);
    Bellec et al. (2018), NeurIPS (pseudo-derivative of LSNNs).
    """

    alpha: Float[Array, ""]
    width: Float[Array, ""]

    def __init__(self, alpha: ArrayLike = 0.3, width: ArrayLike = 1.0):
        self.alpha = _positive("PiecewiseLinear", "alpha", alpha)
        self.width = _positive("PiecewiseLinear", "width", width)

    def derivative(self, x):
        return jax.nn.relu(self.alpha * (self.width - jnp.abs(x)))


class Gaussian(SpikeFunction):
    """Normal density derivative: exp(-x^2 / (2 sigma^2)) / (sqrt(2 pi) sigma).

    Reference: Yin, Corradi & Bohte (2021), Nature Machine Intelligence 3, 905-913.
    """

    sigma: Float[Array, ""]

    def __init__(self, sigma: ArrayLike = 0.5):
        self.sigma = _positive("Gaussian", "sigma", sigma)

    def derivative(self, x):
        z = x / self.sigma
        return jnp.exp(-0.5 * jnp.square(z)) / (math.sqrt(2.0 * math.pi) * self.sigma)
