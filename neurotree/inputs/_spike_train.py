"""A spike source whose spikes are its input: an encoded spike train fed step by step."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core import DynamicalSystem, as_shape, broadcast_input, check_dt


class SpikeTrainState(eqx.Module):
    spike: Float[Array, "*shape"]


class SpikeTrain(DynamicalSystem):
    """A population that emits, at each step, the spikes it is given as input.

        spike(t_n) = input_n

    The usual source of a trained network: encode data as a spike train of shape
    (T, *batch, *size) (e.g. with `nt.training.bernoulli_encode`) and pass it as this
    population's input to `nt.simulate`; projections from it read `state.spike` as from any
    neuron. Values are passed through unchanged (0/1, counts or fractional releases), and
    gradients flow through them. A missing input (None) emits no spikes.

    Outputs: the spikes.

    Reference: the spike-train inputs of Zenke & Ganguli (2018), SuperSpike, Neural Computation
    30(6):1514-1541; BrainPy's `InputGroup`.
    """

    size: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, size: int | tuple[int, ...]):
        self.size = as_shape("SpikeTrain", size)

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> SpikeTrainState:
        return SpikeTrainState(spike=jnp.zeros(tuple(batch_shape) + self.size))

    def __call__(
        self, state: SpikeTrainState, spikes, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[SpikeTrainState, Float[Array, "*shape"]]:
        check_dt("SpikeTrain", dt)
        spike = broadcast_input("SpikeTrain", "spikes", spikes, state.spike.shape)
        spike = spike.astype(state.spike.dtype)
        return SpikeTrainState(spike=spike), spike
