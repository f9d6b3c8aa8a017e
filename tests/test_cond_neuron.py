import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt
from neurotree.channels import IK_HH, IK_M, ICaT, ILeak, INa_HH

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

X64 = jax.config.jax_enable_x64


def _v_and_spike(state, spike):
    return state.v, spike


def _v(state, spike):
    return state.v


def _hh_channels(**kw):
    return {"Na": INa_HH(), "K": IK_HH(), "L": ILeak(**kw)}


@pytest.mark.parametrize(
    "solver",
    [
        nt.integrators.ExponentialRK2(),
        nt.integrators.ExponentialEuler(),
        diffrax.Tsit5(),
        diffrax.Heun(),
    ],
    ids=["ExponentialRK2", "ExponentialEuler", "Tsit5", "Heun"],
)
def test_hh_channels_reproduce_hh(solver):
    # The same equations, assembled from channels: identical trajectories over 50 ms of spiking.
    # (In float32, 1-ulp differences are amplified to ~3e-3 mV by the spikes. Both add the
    # currents in the same order, K + L + Na, so most solvers agree to the last bit; under
    # ExponentialRK2 XLA fuses the two models' Jacobian-diagonal products differently and the
    # float32 runs differ by 3.2e-3 mV, while in float64 they agree exactly.)
    current = jnp.array([0.0, 5.0, 10.0, 20.0])
    hh = nt.neurons.HH(4, solver=solver)
    cond = nt.neurons.CondNeuron(4, _hh_channels(), solver=solver)
    s_hh, s_cond = hh.init_state(), cond.init_state()
    np.testing.assert_array_equal(s_hh.v, s_cond.v)
    np.testing.assert_array_equal(s_hh.h, s_cond.channels["Na"]["h"])
    _, (v_hh, sp_hh) = nt.simulate(hh, s_hh, current, dt=0.01, duration=50.0, monitor=_v_and_spike)
    _, (v_cond, sp_cond) = nt.simulate(
        cond, s_cond, current, dt=0.01, duration=50.0, monitor=_v_and_spike
    )
    tol = 1e-8 if X64 else 1e-2 if isinstance(solver, nt.integrators.ExponentialRK2) else 1e-4
    assert float(jnp.abs(v_hh - v_cond).max()) < tol
    np.testing.assert_array_equal(sp_hh, sp_cond)
    assert sp_hh[:, 2].sum() >= 3


def test_state_layout_and_batch_shape():
    model = nt.neurons.CondNeuron((3,), {**_hh_channels(), "M": IK_M(g_max=jnp.ones(3))})
    state = model.init_state((2,))
    assert state.v.shape == state.spike.shape == (2, 3)
    assert set(state.channels) == {"Na", "K", "L", "M"}
    assert set(state.channels["Na"]) == {"m", "h"} and state.channels["L"] == {}
    assert state.channels["M"]["p"].shape == (2, 3)
    step = eqx.filter_jit(lambda m, s: m(s, jnp.full((2, 3), 30.0), t=0.0, dt=0.01))
    state, spike = step(model, state)
    assert spike.shape == (2, 3)


def test_rest_is_a_fixed_point_with_extra_channels():
    # The Newton solve for the resting potential accounts for every channel.
    channels = {**_hh_channels(), "M": IK_M(E=-77.0), "T": ICaT(g_max=1.0)}
    model = nt.neurons.CondNeuron(1, channels)
    state = model.init_state()
    v0 = state.v
    total = sum(ch.current(ch.init_state(v0), v0) for ch in channels.values())
    assert float(jnp.abs(total).max()) < (1e-10 if X64 else 1e-5)
    assert not np.isclose(float(v0[0]), nt.neurons.HH(1).init_state().v[0], atol=0.05)
    _, v = nt.simulate(model, state, 0.0, dt=0.05, duration=100.0, monitor=_v)
    assert float(jnp.abs(v - v0).max()) < 1e-3


def test_v_init():
    model = nt.neurons.CondNeuron(2, _hh_channels(), v_init=jnp.array([-70.0, -60.0]))
    state = model.init_state()
    np.testing.assert_allclose(state.v, [-70.0, -60.0])
    np.testing.assert_allclose(state.channels["K"]["n"], IK_HH().init_state(state.v)["n"])


def test_vector_field_solves_with_diffeqsolve():
    # The same vector field, adaptive steps: matches the clock-driven Tsit5 run at t = 20 ms.
    model = nt.neurons.CondNeuron(1, _hh_channels(), solver=diffrax.Tsit5())
    state = model.init_state()
    _, v = nt.simulate(model, state, 10.0, dt=0.01, duration=20.0, monitor=_v)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(model.vector_field), diffrax.Tsit5(), 0.0, 20.0, 0.01,
        (state.v, state.channels), jnp.full((1,), 10.0),
        stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-8), max_steps=100000,
    )  # fmt: skip
    np.testing.assert_allclose(sol.ys[0][-1], v[-1], atol=1e-3 if X64 else 2e-2)


def test_grad_wrt_channel_conductance():
    def loss(g):
        channels = {**_hh_channels(), "M": IK_M(g_max=g, E=-77.0)}
        model = nt.neurons.CondNeuron(1, channels, solver=diffrax.Heun())
        _, v = nt.simulate(model, model.init_state(), 10.0, dt=0.01, n_steps=300, monitor=_v)
        return jnp.mean(v)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    _, g = value_and_grad(jnp.asarray(2.0))
    assert np.isfinite(float(g)) and float(g) < 0  # more K conductance, lower mean potential
    if X64:
        h, value = 1e-4, jax.jit(loss)
        fd = (value(2.0 + h) - value(2.0 - h)) / (2 * h)
        assert float(g) == pytest.approx(float(fd), rel=1e-5)


def test_vmap_over_channel_parameter_equals_loop():
    def run(g):
        model = nt.neurons.CondNeuron(1, {**_hh_channels(), "M": IK_M(g_max=g, E=-77.0)})
        _, v = nt.simulate(model, model.init_state(), 15.0, dt=0.02, n_steps=500, monitor=_v)
        return v

    gs = jnp.array([0.0, 1.0, 3.0])
    batched = eqx.filter_jit(eqx.filter_vmap(run))(gs)
    looped = jnp.stack([run(g) for g in gs])
    # float32 rounding differs between the batched and the single programs (XLA fuses them
    # differently) and the spike upstroke (~400 mV/ms) amplifies it: 1 uV is far below it.
    np.testing.assert_allclose(batched, looped, atol=1e-3, rtol=0)


def test_noise_needs_a_key():
    model = nt.neurons.CondNeuron(3, _hh_channels(), noise=2.0)
    state = model.init_state()
    with pytest.raises(ValueError, match="no key"):
        model(state, 0.0, t=0.0, dt=0.01)
    _, v = nt.simulate(model, state, 0.0, dt=0.01, n_steps=100, key=jax.random.key(1), monitor=_v)
    assert np.all(np.isfinite(v)) and float(jnp.std(v[-1])) > 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="expected an nt.channels.IonChannel"):
        nt.neurons.CondNeuron(2, {"Na": INa_HH(), "K": 36.0})
    with pytest.raises(ValueError, match="expected an nt.channels.IonChannel"):
        nt.neurons.CondNeuron(2, {"Na": INa_HH, "K": IK_HH()})
    with pytest.raises((TypeError, ValueError), match="channels"):
        nt.neurons.CondNeuron(2, [INa_HH(), IK_HH()])
    with pytest.raises(ValueError, match="non-empty dict"):
        nt.neurons.CondNeuron(2, {})
    with pytest.raises(ValueError, match=r"channels\['L'\].*does not broadcast"):
        nt.neurons.CondNeuron(2, _hh_channels(g_max=jnp.ones(3)))
    with pytest.raises(ValueError, match="size"):
        nt.neurons.CondNeuron(0, _hh_channels())
    with pytest.raises(ValueError, match="C must be a positive"):
        nt.neurons.CondNeuron(2, _hh_channels(), C=-1.0)
    model = nt.neurons.CondNeuron(2, _hh_channels())
    state = model.init_state()
    with pytest.raises(ValueError, match="dt"):
        model(state, 0.0, t=0.0, dt=0.0)
    with pytest.raises(ValueError, match="does not broadcast to the state's shape"):
        model(state, jnp.ones((3,)), t=0.0, dt=0.01)


def test_a_cell_without_a_resting_state_asks_for_v_init():
    # The COBAHH cell (Traub-Miles, leak at -60 mV) has no rest below -55 mV: it fires alone.
    ch = nt.channels
    channels = {"Na": ch.INa_TM(), "K": ch.IK_TM(), "L": ch.ILeak(g_max=0.05, E=-60.0)}
    with pytest.raises(ValueError, match="no resting potential near -65 mV.*pass v_init="):
        nt.neurons.CondNeuron(1, channels).init_state()
    state = nt.neurons.CondNeuron(1, channels, v_init=-60.0).init_state()
    assert float(state.v[0]) == -60.0
