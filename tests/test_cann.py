import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt
from neurotree.zoo import CANN1D

DT = 0.1


def settle(model, position, hold=10.0, free=50.0):
    """Stimulus at `position` for `hold` ms, then none for `free` ms; the final u."""
    stimulus = model.get_stimulus_by_pos(position)
    n_hold, n = round(hold / DT), round((hold + free) / DT)
    inputs = jnp.where((jnp.arange(n) < n_hold).reshape((n,) + (1,) * stimulus.ndim), stimulus, 0.0)
    state = model.init_state(stimulus.shape[:-1])
    _, u = nt.simulate(model, state, inputs, dt=DT, n_steps=n, every=n)
    return u[-1]


def test_bump_persists_with_the_analytic_height_and_width():
    model = CANN1D()
    u = np.asarray(settle(model, 0.3))
    z = float(model.decode(u))
    u0 = float(model.bump_amplitude())
    x = np.asarray(model.x)
    expected = u0 * np.exp(-(np.asarray(model.dist(x - z)) ** 2) / (4 * 0.5**2))
    # Wu et al. (2008) solve the model on the line; on the circle of length 2 pi the tails of
    # u ~ exp(-d^2 / (4 a^2)) wrap at d = pi with weight exp(-pi^2) = 5e-5 of u0. Add float32
    # rounding (~1e-6) and the residual decay after 50 tau (~1e-6): 2e-4 is a strict bound.
    assert u0 == pytest.approx(0.274204, rel=1e-5)  # the formula, by hand
    assert np.abs(u - expected).max() < 2e-4 * u0
    assert abs(z - 0.3) < 1e-4  # the bump stays where the stimulus left it
    # Width: fit log u = c - d^2 / (4 w^2) within 2a of the peak; w = a for the stationary bump.
    near = np.abs(np.asarray(model.dist(x - z))) < 1.0
    slope = np.polyfit(np.asarray(model.dist(x - z))[near] ** 2, np.log(u[near]), 1)[0]
    assert np.sqrt(-1 / (4 * slope)) == pytest.approx(0.5, rel=1e-3)


def test_a_held_bump_has_the_height_of_the_analytic_solution():
    for A in [10.0, 0.1]:
        model = CANN1D(A=A)
        state = model.init_state()
        _, u = nt.simulate(model, state, model.get_stimulus_by_pos(-1.0), dt=DT, duration=60.0,
                           every=600)  # fmt: skip
        assert float(u[-1].max()) == pytest.approx(float(model.bump_amplitude(A)), rel=1e-4)


def test_a_slowly_moving_stimulus_is_tracked_with_the_predicted_lag():
    # Theory (see CANN1D): steady lag d = v tau U / A to first order in d / a. Here d / a < 0.2,
    # so the second-order terms are below 1e-2 relative; the stimulus is sampled at step
    # midpoints, so the hold of the input over a step costs O(dt^2). Bound: 1%.
    speed, n_hold, n = 0.02, 200, 600
    t_mid = (jnp.arange(n) + 0.5) * DT
    position = jnp.concatenate([jnp.full(n_hold, -2.0), -2.0 + speed * t_mid])
    t_end = (jnp.arange(n) + 1) * DT
    for A, tau in [(10.0, 1.0), (0.1, 1.0), (10.0, 2.0)]:
        model = CANN1D(A=A, tau=tau)
        _, u = nt.simulate(model, model.init_state(), model.get_stimulus_by_pos(position), dt=DT,
                           n_steps=n_hold + n)  # fmt: skip
        lag = np.asarray(model.dist(-2.0 + speed * t_end - model.decode(u[n_hold:])))[-100:]
        expected = speed * tau * float(model.bump_amplitude(A)) / A
        assert np.ptp(lag) < 1e-3 * expected  # steady tracking
        assert lag.mean() == pytest.approx(expected, rel=1e-2)
    # The strong-input lag is that of a low-pass filter (v tau); the weak one is much larger.
    assert expected / (speed * tau) < 1.05


def test_bumps_at_different_positions_have_the_same_shape():
    model = CANN1D()
    x = np.asarray(model.x)
    sites = np.array([40, 200, 455])
    positions = jnp.asarray(np.append(x[sites], 1.234))  # three lattice sites and one between
    u = np.asarray(settle(model, positions))
    for i, site in enumerate(sites):  # a shift by whole sites is a permutation of the neurons
        np.testing.assert_allclose(u[i], np.roll(u[0], site - sites[0]), atol=1e-5 * u.max())
    z = np.asarray(model.decode(u))
    np.testing.assert_allclose(z, positions, atol=1e-4)
    u0 = float(model.bump_amplitude())
    # Off the lattice: the same profile, sampled at other points.
    d = np.asarray(model.dist(x - z[3]))
    np.testing.assert_allclose(u[3], u0 * np.exp(-(d**2) / (4 * 0.25)), atol=2e-4 * u0)


def test_jit_vmap_and_grad():
    model = CANN1D(num=256)
    site = 100

    def height(J0, A):
        m = CANN1D(num=256, J0=J0, A=A)
        return settle(m, m.x[site], hold=5.0, free=40.0)[site]

    heights = jax.jit(jax.vmap(height, in_axes=(0, None)))(jnp.array([3.0, 4.0, 5.0]), 10.0)
    expected = [float(CANN1D(num=256, J0=j).bump_amplitude()) for j in (3.0, 4.0, 5.0)]
    np.testing.assert_allclose(heights, expected, rtol=1e-4)
    # The gradient through 450 Tsit5 steps equals that of the analytic height u0(J0); the free
    # bump does not depend on the stimulus that created it.
    g_J0, g_A = jax.jit(jax.grad(height, argnums=(0, 1)))(4.0, 10.0)
    g_expected = jax.grad(lambda J0: CANN1D(num=256, J0=J0).bump_amplitude())(4.0)
    assert float(g_J0) == pytest.approx(float(g_expected), rel=1e-3)
    assert float(g_A) == pytest.approx(0.0, abs=1e-4)
    assert model.decode(model.get_stimulus_by_pos(jnp.zeros((2, 3)))).shape == (2, 3)


@pytest.mark.x64
def test_solver_choice():
    """Tsit5 at dt = 0.1 tau against a dt = 0.01 tau reference; Heun is much worse (docstring)."""

    def run(solver, dt):
        model = CANN1D(solver=solver)
        n_hold = round(3.0 / dt)
        inputs = jnp.zeros((2 * n_hold, model.num)).at[:n_hold].set(model.get_stimulus_by_pos(-2.0))
        _, u = nt.simulate(model, model.init_state(), inputs, dt=dt, n_steps=2 * n_hold,
                           every=2 * n_hold)  # fmt: skip
        return np.asarray(u[-1])

    ref = run(diffrax.Tsit5(), 0.01)
    error = {
        name: np.abs(run(solver, DT) - ref).max() / ref.max()
        for name, solver in [("tsit5", diffrax.Tsit5()), ("heun", diffrax.Heun())]
    }
    assert error["tsit5"] < 5e-5 and error["heun"] > 1e-3


def test_errors():
    with pytest.raises(ValueError, match=r"CANN1D\(num=1\)"):
        CANN1D(num=1)
    with pytest.raises(ValueError, match=r"CANN1D\(a=-1.0\): a must be a positive width"):
        CANN1D(a=-1.0)
    with pytest.raises(ValueError, match="z_min < z_max"):
        CANN1D(z_min=1.0, z_max=0.0)
    model = CANN1D(num=16)
    with pytest.raises(ValueError, match="does not broadcast"):
        model(model.init_state(), jnp.zeros(5), t=0.0, dt=DT)
    assert np.isnan(float(CANN1D(k=1e4).bump_amplitude()))  # k > k_c: no bump
