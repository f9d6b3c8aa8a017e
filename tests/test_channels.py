import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt
from neurotree.channels import IK_HH, IK_M, ICaL, ICaT, ILeak, INa_HH, IonChannel

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

X64 = jax.config.jax_enable_x64
RTOL = 1e-10 if X64 else 2e-5
V = np.array([-100.0, -85.0, -70.0, -62.0, -47.0, -33.0, -20.0, -5.0, 10.0, 35.0])


def _v0(state, spike):
    return state.v[0]


# The published rate functions, written out again in NumPy float64 (1/ms, v in mV).
def _hh(v):
    return {
        "m": (0.1 * (v + 40) / (1 - np.exp(-(v + 40) / 10)), 4 * np.exp(-(v + 65) / 18)),
        "h": (0.07 * np.exp(-(v + 65) / 20), 1 / (1 + np.exp(-(v + 35) / 10))),
        "n": (0.01 * (v + 55) / (1 - np.exp(-(v + 55) / 10)), 0.125 * np.exp(-(v + 65) / 80)),
    }


def _from_rates(alpha, beta):
    return alpha / (alpha + beta), 1 / (alpha + beta)


def _ical(v):
    aq = 0.055 * (-27 - v) / (np.exp((-27 - v) / 3.8) - 1)
    bq = 0.94 * np.exp((-75 - v) / 17)
    ar = 0.000457 * np.exp((-13 - v) / 50)
    br = 0.0065 / (np.exp((-15 - v) / 28) + 1)
    return {"q": _from_rates(aq, bq), "r": _from_rates(ar, br)}


def _icat(v, vx=2.0):
    h_inf = 1 / (1 + np.exp((v + vx + 81) / 4))
    tau_h = (
        30.8 + (211.4 + np.exp((v + vx + 113.2) / 5)) / (1 + np.exp((v + vx + 84) / 3.2))
    ) / 3.7
    return {"h": (h_inf, tau_h)}


def _ikm(v, tau_max=608.0):
    p_inf = 1 / (1 + np.exp(-(v + 35) / 10))
    tau_p = tau_max / (3.3 * np.exp((v + 35) / 20) + np.exp(-(v + 35) / 20))
    return {"p": (p_inf, tau_p)}


def _kinetics(channel: IonChannel, v):
    """x_inf and tau of each gate read off the channel's vector field, which is linear in x:
    dx/dt = (x_inf - x) / tau, so f(0) = x_inf / tau and f(0) - f(1) = 1 / tau."""
    v = jnp.asarray(v)
    gates = channel.init_state(v)
    f0 = channel.vector_field(0.0, jax.tree.map(jnp.zeros_like, gates), v)
    f1 = channel.vector_field(0.0, jax.tree.map(jnp.ones_like, gates), v)
    out = {}
    for name in gates:
        tau = 1 / (f0[name] - f1[name])
        out[name] = (np.asarray(f0[name] * tau), np.asarray(tau))
        np.testing.assert_allclose(gates[name], out[name][0], rtol=RTOL, atol=1e-12)
    return out


@pytest.mark.parametrize(
    "channel, published",
    [
        (INa_HH(), lambda v: {g: _from_rates(*_hh(v)[g]) for g in "mh"}),
        (IK_HH(), lambda v: {"n": _from_rates(*_hh(v)["n"])}),
        (ICaL(), _ical),
        (ICaT(), _icat),
        (ICaT(Vx=7.0), lambda v: _icat(v, vx=7.0)),
        (IK_M(), _ikm),
        (IK_M(tau_max=4000.0), lambda v: _ikm(v, tau_max=4000.0)),
    ],
    ids=["INa_HH", "IK_HH", "ICaL", "ICaT", "ICaT-Vx7", "IK_M", "IK_M-4000"],
)
def test_steady_states_and_time_constants(channel, published):
    ours, theirs = _kinetics(channel, V), published(V)
    assert ours.keys() == theirs.keys()
    for gate in theirs:
        np.testing.assert_allclose(ours[gate][0], theirs[gate][0], rtol=1e-4, atol=1e-9)
        np.testing.assert_allclose(ours[gate][1], theirs[gate][1], rtol=1e-4)


def test_currents():
    rng = np.random.default_rng(0)
    v = jnp.asarray(V)
    x = {k: jnp.asarray(rng.uniform(0.05, 0.95, V.shape)) for k in "mhnpqr"}
    cases = [
        (INa_HH(100.0, 55.0), {"m": x["m"], "h": x["h"]}, 100 * x["m"] ** 3 * x["h"] * (v - 55)),
        (IK_HH(30.0, -80.0), {"n": x["n"]}, 30 * x["n"] ** 4 * (v + 80)),
        (ILeak(0.1, -70.0), {}, 0.1 * (v + 70)),
        (IK_M(0.2, -90.0), {"p": x["p"]}, 0.2 * x["p"] * (v + 90)),
        (ICaL(0.3, 120.0), {"q": x["q"], "r": x["r"]}, 0.3 * x["q"] ** 2 * x["r"] * (v - 120)),
        (
            ICaT(0.4, 120.0, Vx=2.0),
            {"h": x["h"]},
            0.4 * (1 / (1 + np.exp(-(V + 59) / 6.2))) ** 2 * x["h"] * (v - 120),
        ),
    ]
    for channel, gates, expected in cases:
        np.testing.assert_allclose(channel.current(gates, v), expected, rtol=1e-5, atol=1e-6)


def test_removable_singularity_of_ical():
    v = jnp.asarray(-27.0)
    q_inf, tau_q = _kinetics(ICaL(), v)["q"]
    aq, bq = 0.055 * 3.8, 0.94 * np.exp(-48 / 17)  # alpha_q -> 0.055 * 3.8 at v = -27
    np.testing.assert_allclose([q_inf, tau_q], _from_rates(aq, bq), rtol=1e-5)
    grad = jax.grad(lambda v: ICaL().vector_field(0.0, {"q": 0.5, "r": 0.5}, v)["q"])(v)
    assert np.isfinite(float(grad))


def _hh_channels():
    return {"Na": INa_HH(), "K": IK_HH(), "L": ILeak()}


def _spike_times(channels, current, dt):
    model = nt.neurons.CondNeuron(1, channels)
    _, spikes = nt.simulate(model, model.init_state(), current, dt=dt, n_steps=len(current))
    return np.flatnonzero(np.asarray(spikes[:, 0])) * dt


def test_ik_m_adapts_firing():
    # A constant 20 uA/cm^2 step for 500 ms. Without I_M the squid axon fires regularly (after a
    # slightly longer first interval); with it, p builds up over ~100 ms and the interspike
    # intervals lengthen (measured 13.5 -> 15.9 ms) and fewer spikes fit in the window.
    dt = 0.02
    current = jnp.full((25000,), 20.0)
    plain = np.diff(_spike_times(_hh_channels(), current, dt))
    adapting = np.diff(_spike_times({**_hh_channels(), "M": IK_M(g_max=1.0, E=-77.0)}, current, dt))
    assert plain[-5:].mean() / plain[:2].mean() < 1.0
    assert adapting[-5:].mean() / adapting[:2].mean() > 1.12
    assert np.all(np.diff(adapting[2:]) > -0.1)  # no shortening beyond jitter after onset
    assert len(adapting) < 0.85 * len(plain)


def test_ik_m_slow_activation():
    # At a clamped -20 mV, p relaxes towards p_inf with tau_p = tau_max / (3.3 e^0.75 + e^-0.75).
    channel = IK_M(tau_max=608.0)
    v = jnp.asarray(-20.0)
    p_inf, tau = _ikm(-20.0)["p"]
    p, t, dt = channel.init_state(jnp.asarray(-70.0))["p"], 0.0, 0.1
    for _ in range(500):
        p = p + dt * channel.vector_field(t, {"p": p}, v)["p"]
    p0 = _ikm(-70.0)["p"][0]
    expected = p_inf + (p0 - p_inf) * np.exp(-50.0 / tau)
    assert float(p) == pytest.approx(expected, rel=2e-3)


def test_icat_rebound_burst():
    # 300 ms of -10 uA/cm^2 de-inactivates I_T; on release the squid axon alone fires its single
    # anode-break spike, with I_T it fires a burst that ends once I_T inactivates again.
    dt = 0.02
    current = jnp.concatenate([jnp.full((15000,), -10.0), jnp.zeros(10000)])
    plain = _spike_times(_hh_channels(), current, dt)
    burst = _spike_times({**_hh_channels(), "T": ICaT(g_max=2.0)}, current, dt)
    assert len(plain) == 1 and 300.0 < plain[0] < 310.0
    assert np.all(burst > 300.0)
    assert np.sum(burst < 400.0) >= 4
    assert np.sum(burst > 400.0) == 0
    # Without the hyperpolarisation, I_T (inactivated at rest) fires nothing.
    assert len(_spike_times({**_hh_channels(), "T": ICaT(g_max=2.0)}, current * 0, dt)) == 0


def test_ical_broadens_spikes():
    # The inward calcium current slows repolarisation: time spent above 0 mV in the first spike.
    widths = []
    for g in (0.0, 2.0, 5.0):
        model = nt.neurons.CondNeuron(1, {**_hh_channels(), "CaL": ICaL(g_max=g)})
        _, v = nt.simulate(model, model.init_state(), 10.0, dt=0.01, n_steps=1500, monitor=_v0)
        widths.append(float(jnp.sum(v > 0.0)) * 0.01)
    assert widths[0] < widths[1] < widths[2]
    assert widths[2] > 1.1 * widths[0]


def test_channels_are_pytrees_of_parameters():
    ch = IK_M(g_max=jnp.array([0.1, 0.2]))
    grads = jax.grad(lambda c: c.current({"p": jnp.ones(2)}, jnp.zeros(2)).sum())(ch)
    np.testing.assert_allclose(grads.g_max, [90.0, 90.0])
    batched = eqx.filter_vmap(lambda g: IK_HH(g_max=g).current({"n": 0.5}, -50.0))(
        jnp.array([10.0, 20.0])
    )
    np.testing.assert_allclose(batched, np.array([10.0, 20.0]) * 0.5**4 * 27.0, rtol=1e-6)


def test_bad_inputs():
    for cls in (INa_HH, IK_HH, ILeak, IK_M, ICaL, ICaT):
        with pytest.raises(ValueError, match="g_max must be a non-negative conductance"):
            cls(g_max=-1.0)
    with pytest.raises(ValueError, match="tau_max must be a positive time"):
        IK_M(tau_max=0.0)
    with pytest.raises(ValueError, match="E must be a number"):
        ILeak(E=True)


def test_traub_miles_rates_match_the_cobahh_benchmark_equations():
    # Brian2's COBAHH example, with exprel(x) = (exp(x) - 1) / x and VT = -63 mV.
    v = np.array([-80.0, -63.0, -50.0, -37.0, -10.0, 20.0])  # -50 and -37 hit removable points
    vt = -63.0

    def brian_exprel(x):
        x = np.where(np.abs(x) < 1e-9, 1e-9, x)
        return np.expm1(x) / x

    am = 0.32 * 4 / brian_exprel((13 - v + vt) / 4)
    bm = 0.28 * 5 / brian_exprel((v - vt - 40) / 5)
    ah = 0.128 * np.exp((17 - v + vt) / 18)
    bh = 4.0 / (1 + np.exp((40 - v + vt) / 5))
    an = 0.032 * 5 / brian_exprel((15 - v + vt) / 5)
    bn = 0.5 * np.exp((10 - v + vt) / 40)
    na, k = nt.channels.INa_TM(), nt.channels.IK_TM()
    gates = {"m": np.full(6, 0.3), "h": np.full(6, 0.6)}
    d = na.vector_field(0.0, gates, jnp.asarray(v))
    np.testing.assert_allclose(d["m"], am * 0.7 - bm * 0.3, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d["h"], ah * 0.4 - bh * 0.6, rtol=1e-5, atol=1e-6)
    dn = k.vector_field(0.0, {"n": np.full(6, 0.3)}, jnp.asarray(v))["n"]
    np.testing.assert_allclose(dn, an * 0.7 - bn * 0.3, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(na.init_state(jnp.asarray(v))["m"], am / (am + bm), rtol=1e-5)
    np.testing.assert_allclose(
        na.current(gates, jnp.asarray(v)), 100 * 0.3**3 * 0.6 * (v - 50), rtol=1e-5
    )
    np.testing.assert_allclose(
        k.current({"n": np.full(6, 0.3)}, jnp.asarray(v)), 30 * 0.3**4 * (v + 90), rtol=1e-5
    )
