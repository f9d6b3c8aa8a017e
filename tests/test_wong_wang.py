"""nt.zoo.WongWang: the reduced decision model of Wong & Wang (2006, J Neurosci 26:1314)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import fsolve

import neurotree as nt

# The published parameters, and the equations typed out independently (t in ms, H in Hz).
P = dict(a=270.0, b=108.0, d=0.154, gamma=0.641, tau_S=100.0, J11=0.2609, J12=0.0497,
         J_ext=0.00052, I_0=0.3255)  # fmt: skip


def _H(x):
    y = P["a"] * x - P["b"]
    with np.errstate(over="ignore"):  # fsolve's trial steps can go far out (H -> 0 there)
        return y / (1 - np.exp(-P["d"] * y))


def _rhs(t, S, mu0, c):
    S1, S2 = S
    x1 = P["J11"] * S1 - P["J12"] * S2 + P["I_0"] + P["J_ext"] * mu0 * (1 + c / 100)
    x2 = P["J11"] * S2 - P["J12"] * S1 + P["I_0"] + P["J_ext"] * mu0 * (1 - c / 100)
    return [-S / P["tau_S"] + (1 - S) * P["gamma"] * _H(x) / 1000 for S, x in ((S1, x1), (S2, x2))]


def _reference_fixed_points(mu0, c=0.0):
    """All roots in [0, 1]^2 by scipy's fsolve from a 25 x 25 grid, with numerical Jacobians."""
    roots = []
    for s1 in np.linspace(0.01, 0.99, 25):
        for s2 in np.linspace(0.01, 0.99, 25):
            r, _, ok, _ = fsolve(lambda S: _rhs(0, S, mu0, c), [s1, s2], full_output=True,
                                 xtol=1e-13)  # fmt: skip
            new = not any(np.allclose(r, q, atol=1e-6) for q in roots)
            if ok == 1 and np.all((r >= 0) & (r <= 1)) and new:
                roots.append(r)
    roots = np.array(sorted(roots, key=lambda r: (r[0], r[1])))
    h = 1e-7
    stable = []
    for r in roots:
        columns = [(np.subtract(_rhs(0, r + h * e, mu0, c), _rhs(0, r - h * e, mu0, c))) / (2 * h)
                   for e in np.eye(2)]  # fmt: skip
        J = np.stack(columns, axis=1)
        stable.append(bool(np.all(np.linalg.eigvals(J).real < 0)))
    return roots, np.array(stable)


@pytest.mark.parametrize("mu0, n_stable, n_saddle", [(30.0, 2, 1), (0.0, 3, 2)])
def test_fixed_point_structure_at_zero_coherence(mu0, n_stable, n_saddle):
    # Stimulus on: a saddle (the symmetric state) between two decision attractors; no stimulus:
    # the spontaneous state is stable too, with a saddle between it and each decision state.
    model = nt.zoo.WongWang(coherence=0.0, mu0=mu0, sigma=None)
    fp = nt.analysis.PhasePlane(model, {"S1": (0.0, 1.0), "S2": (0.0, 1.0)}).fixed_points()
    assert fp.kind.count("stable node") == n_stable and fp.kind.count("saddle") == n_saddle
    assert len(fp) == n_stable + n_saddle
    roots, stable = _reference_fixed_points(mu0)
    np.testing.assert_allclose(fp.x, roots, atol=2e-5)
    np.testing.assert_array_equal(fp.stable, stable)
    # Mirror symmetry S1 <-> S2 at c' = 0; the symmetric point is the saddle (stimulus) or the
    # spontaneous state (no stimulus, S = 0.10).
    np.testing.assert_allclose(fp.x[::-1, ::-1], fp.x, atol=2e-5)
    middle = len(fp) // 2
    assert fp.x[middle, 0] == pytest.approx(fp.x[middle, 1], abs=2e-5)
    assert fp.kind[middle] == ("saddle" if mu0 > 0 else "stable node")
    if mu0 == 0:
        assert fp.x[middle, 0] == pytest.approx(0.1027, abs=1e-3)


def test_the_favoured_population_wins_at_high_coherence():
    # 8 noisy trials each at c' = +51.2 % and -51.2 % in one call (parameters broadcast).
    model = nt.zoo.WongWang(coherence=jnp.array([51.2, -51.2]))
    state = model.init_state((8, 1))
    assert state.S1.shape == (8, 2)
    _, (r1, r2) = nt.simulate(model, state, None, dt=0.1, duration=1500.0, every=100,
                              key=jax.random.key(0))  # fmt: skip
    r1, r2 = np.asarray(r1[-1]), np.asarray(r2[-1])
    assert np.all(r1[:, 0] > 20.0) and np.all(r2[:, 0] < 5.0)  # population 1 wins at +51.2 %
    assert np.all(r2[:, 1] > 20.0) and np.all(r1[:, 1] < 5.0)  # population 2 at -51.2 %


def test_deterministic_run_matches_scipy():
    model = nt.zoo.WongWang(coherence=6.4, sigma=None)
    _, (r1, _) = nt.simulate(model, model.init_state(), None, dt=0.1, duration=800.0, every=100)
    state, _ = nt.simulate(model, model.init_state(), None, dt=0.1, duration=800.0)
    ref = solve_ivp(_rhs, (0, 800.0), [0.1, 0.1], args=(30.0, 6.4), method="DOP853", rtol=1e-10,
                    atol=1e-12)  # fmt: skip
    np.testing.assert_allclose([state.S1, state.S2], ref.y[:, -1], atol=2e-3)
    assert state.S1 > state.S2  # the weak bias already decides without noise


def test_rate_function_and_inputs():
    model = nt.zoo.WongWang(sigma=None)
    x = jnp.array([0.0, 0.3, 0.4, 108.0 / 270.0, 0.5])
    expected = np.array(
        [_H(float(v)) if abs(270 * float(v) - 108) > 1e-9 else 1 / 0.154 for v in x]
    )
    np.testing.assert_allclose(model.rate(x), expected, rtol=2e-4)
    # H is smooth through a x = b: the gradient there is finite and a / 2.
    assert jax.grad(model.rate)(jnp.float32(0.4)) == pytest.approx(270.0 / 2, rel=1e-3)
    # A pair of input currents is the same as the stimulus it replaces.
    quiet = nt.zoo.WongWang(mu0=0.0, sigma=None)
    stim = 0.00052 * 30.0
    pair = (stim * (1 + 0.2), stim * (1 - 0.2))
    a, _ = nt.simulate(quiet, quiet.init_state(), pair, dt=0.1, duration=100.0)
    b, _ = nt.simulate(nt.zoo.WongWang(coherence=20.0, sigma=None), quiet.init_state(), None,
                       dt=0.1, duration=100.0)  # fmt: skip
    np.testing.assert_allclose([a.S1, a.S2], [b.S1, b.S2], rtol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="tau_S"):
        nt.zoo.WongWang(tau_S=0.0)
    with pytest.raises(ValueError, match="coherence"):
        nt.zoo.WongWang(coherence=150.0)
    with pytest.raises(ValueError, match="gamma"):
        nt.zoo.WongWang(gamma=1.5)
    model = nt.zoo.WongWang()
    with pytest.raises(ValueError, match="key"):
        nt.simulate(model, model.init_state(), None, dt=0.1, n_steps=10)
    with pytest.raises(ValueError, match="pair"):
        model(model.init_state(), (0.0, 0.0, 0.0), t=0.0, dt=0.1, key=jax.random.key(0))
