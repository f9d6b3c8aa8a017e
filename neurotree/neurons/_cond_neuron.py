"""Conductance-based neuron composed of ion channels."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._core import (
    DynamicalSystem,
    as_shape,
    broadcast_input,
    check,
    check_dt,
    concrete,
    param,
)
from ..channels._base import IonChannel
from ..integrators import ExponentialRK2, StepCarry, init_carry, integrate
from ..surrogate import Sigmoid, SpikeFunction
from ._conductance import resting_potential, upward_crossing
from ._if_base import check_solver


class CondNeuronState(eqx.Module):
    v: Float[Array, "*shape"]
    channels: dict[str, dict[str, Float[Array, "*shape"]]]
    spike: Float[Array, "*shape"]
    carry: StepCarry | None


class CondNeuron(DynamicalSystem):
    """Single-compartment conductance-based neuron whose currents are `nt.channels` channels.

        C dv/dt = -sum_k I_k(v, gates_k) + I
        d gates_k / dt = channel_k.vector_field(t, gates_k, v)

    `channels` is a dict from a name to an `nt.channels.IonChannel`, e.g.
    `{"Na": INa_HH(), "K": IK_HH(), "L": ILeak()}` (the Hodgkin-Huxley neuron). The state holds v
    and, under the same names, each channel's gates. The vector field covers v and every gate, so
    any diffrax solver steps the whole system; the default `nt.integrators.ExponentialRK2` treats
    each variable's own linear part exactly (v is linear in itself at fixed gates, each gate linear
    in itself at fixed v) and the coupling to second order (see `nt.neurons.HH` for measured
    errors). A spike is emitted at the step where v crosses `v_th`
    upwards (one per crossing; v is not reset). Currents are added in the order of the channel
    names.
    Units: v, v_th, v_init in mV; C in uF/cm^2; I and channel currents in uA/cm^2 (conductances
    in mS/cm^2); `noise` (white noise added to dv/dt) in mV / sqrt(ms).
    `init_state` starts at `v_init`, or at the resting potential (the zero of the total current
    with every gate at steady state, by Newton's method from -65 mV) when `v_init` is None.
    Outputs: the spikes (0/1 floats carrying the surrogate gradient of `spike_fn`).

    Reference: Hodgkin & Huxley (1952), J Physiol 117:500-544; the channel-composition design of
    BrainPy (Wang et al. 2023, eLife 12:e86365).
    """

    size: tuple[int, ...] = eqx.field(static=True)
    channels: dict[str, IonChannel]
    C: Float[Array, "*#size"]
    v_th: Float[Array, "*#size"]
    v_init: Float[Array, "*#size"] | None
    noise: Float[Array, "*#size"] | None
    spike_fn: SpikeFunction
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    def __init__(
        self,
        size: int | tuple[int, ...],
        channels: dict,
        C: ArrayLike = 1.0,
        v_th: ArrayLike = 20.0,
        v_init: ArrayLike | None = None,
        noise: ArrayLike | None = None,
        *,
        spike_fn: SpikeFunction = Sigmoid(),
        solver: diffrax.AbstractSolver = ExponentialRK2(),
    ):
        self.size = as_shape("CondNeuron", size)
        self.channels = _check_channels(channels, self.size)
        self.C = param("CondNeuron", "C", C, self.size)
        check("CondNeuron", "C", self.C, lambda v: v > 0, "a positive capacitance in uF/cm^2")
        self.v_th = param("CondNeuron", "v_th", v_th, self.size)
        self.v_init = None if v_init is None else param("CondNeuron", "v_init", v_init, self.size)
        self.noise = None if noise is None else param("CondNeuron", "noise", noise, self.size)
        check_solver("CondNeuron", solver, spike_fn)
        self.spike_fn = spike_fn
        self.solver = solver

    def init_state(
        self, batch_shape: tuple[int, ...] = (), *, key: PRNGKeyArray | None = None
    ) -> CondNeuronState:
        shape = tuple(batch_shape) + self.size
        dtype = self.C.dtype
        if self.v_init is None:
            v = resting_potential(self._steady_current, jnp.full(shape, -65.0, dtype))
            v = _check_rest(v, self._steady_current(v))
        else:
            v = jnp.broadcast_to(self.v_init, shape).astype(dtype)
        gates = self._steady_gates(v)
        zeros = jnp.zeros(shape, dtype)
        carry = init_carry(self.solver, self.vector_field, (v, gates), zeros, self._diffusion())
        return CondNeuronState(v=v, channels=gates, spike=zeros, carry=carry)

    def _steady_gates(self, v):
        return {
            name: {g: jnp.broadcast_to(x, v.shape) for g, x in ch.init_state(v).items()}
            for name, ch in self.channels.items()
        }

    def _ionic_current(self, v, gates):
        currents = [self.channels[name].current(gates[name], v) for name in sorted(self.channels)]
        return sum(currents[1:], currents[0])

    def _steady_current(self, v):
        return self._ionic_current(v, self._steady_gates(v))

    def vector_field(self, t, y, current):
        v, gates = y
        dv = (current - self._ionic_current(v, gates)) / self.C
        dgates = {name: ch.vector_field(t, gates[name], v) for name, ch in self.channels.items()}
        return dv, dgates

    def diffusion(self, t, y, current):
        v, gates = y
        return jnp.broadcast_to(self.noise, v.shape), jax.tree.map(jnp.zeros_like, gates)

    def _diffusion(self):
        return None if self.noise is None else self.diffusion

    def __call__(
        self, state: CondNeuronState, current, *, t, dt, key: PRNGKeyArray | None = None
    ) -> tuple[CondNeuronState, Float[Array, "*shape"]]:
        check_dt("CondNeuron", dt)
        current = broadcast_input("CondNeuron", "current", current, state.v.shape)
        (v, gates), carry = integrate(
            self.solver, self.vector_field, t, dt, (state.v, state.channels), current,
            state.carry, diffusion=self._diffusion(), key=key, owner="CondNeuron",
        )  # fmt: skip
        spike = upward_crossing(self.spike_fn, state.v, v, self.v_th)
        return CondNeuronState(v=v, channels=gates, spike=spike, carry=carry), spike


def _check_rest(v, residual):
    """Refuse a Newton result that is not a zero of the current (a cell with no resting state)."""
    bad = jnp.abs(residual) > 1e-3 * (1.0 + jnp.abs(v))
    message = (
        "CondNeuron: no resting potential near -65 mV (the total steady current is not zero "
        "there; the cell may fire on its own); pass v_init= to choose the initial potential."
    )
    known = concrete(bad)
    if known is None:
        return eqx.error_if(v, bad, message)
    if np.any(known):
        i = int(np.argmax(known.reshape(-1)))
        raise ValueError(
            message + f" Newton stopped at v={np.asarray(v).reshape(-1)[i]:.2f} mV with "
            f"{np.asarray(residual).reshape(-1)[i]:.3g} uA/cm^2 left."
        )
    return v


def _check_channels(channels, size: tuple[int, ...]) -> dict[str, IonChannel]:
    if not isinstance(channels, dict) or not channels:
        raise ValueError(
            f"CondNeuron(channels={channels!r}): channels must be a non-empty dict from a name to "
            "an nt.channels.IonChannel, e.g. {'Na': INa_HH(), 'K': IK_HH(), 'L': ILeak()}."
        )
    for name, ch in channels.items():
        if not isinstance(name, str):
            raise ValueError(f"CondNeuron(channels): channel names must be strings; got {name!r}.")
        if not isinstance(ch, IonChannel):
            raise ValueError(
                f"CondNeuron(channels[{name!r}]={ch!r}): expected an nt.channels.IonChannel "
                f"instance (e.g. nt.channels.ILeak()); got {type(ch).__name__}."
            )
        for leaf in jax.tree.leaves(eqx.filter(ch, eqx.is_array)):
            try:
                ok = np.broadcast_shapes(leaf.shape, size) == size
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(
                    f"CondNeuron(channels[{name!r}]): a parameter of shape {leaf.shape} does not "
                    f"broadcast to the population's shape {size}; use scalars or arrays of that "
                    "shape."
                )
    return dict(channels)
