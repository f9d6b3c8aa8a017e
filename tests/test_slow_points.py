"""SlowPointFinder against systems whose fixed points and Jacobians are known in closed form,
and on CANN1D's line attractor."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt
from neurotree.zoo import CANN1D

SPF = nt.analysis.SlowPointFinder


def double_wells(x):
    """dx_i/dt = x_i - x_i^3: fixed points {-1, 0, 1}^d, Jacobian diag(1 - 3 x_i^2)."""
    return x - x**3


def test_double_wells_all_fixed_points():
    d = 3
    x0 = np.random.default_rng(0).uniform(-1.6, 1.6, (400, d)).astype(np.float32)
    finder = SPF(double_wells, n_steps=3000, learning_rate=3e-2, tol_q=1e-10, tol_unique=1e-2)
    result = finder.find(jnp.asarray(x0))
    assert len(result) == 27, result.summary()
    points = np.asarray(result.points)
    grid = np.round(points)
    np.testing.assert_allclose(points, grid, atol=1e-4)
    assert {tuple(p) for p in grid.astype(int)} == set(itertools.product((-1, 0, 1), repeat=d))
    # Jacobians and sorted eigenvalues (largest real part first), analytically.
    np.testing.assert_allclose(result.jacobians, jax.vmap(jnp.diag)(1 - 3 * grid**2), atol=1e-3)
    expected = -np.sort(-(1 - 3 * grid**2), axis=1)
    np.testing.assert_allclose(result.eigenvalues.real, expected, atol=1e-3)
    np.testing.assert_allclose(result.eigenvalues.imag, 0.0, atol=1e-6)
    # Each eigenvector solves J v = lambda v.
    J, v, lam = (np.asarray(a) for a in (result.jacobians, result.eigenvectors, result.eigenvalues))
    np.testing.assert_allclose(J @ v, v * lam[:, None, :], atol=1e-3)
    # Unstable directions = number of coordinates at 0 (stable nodes, saddles, the source).
    np.testing.assert_array_equal(result.n_unstable(), np.sum(grid == 0, axis=1))
    # Masks: every candidate converged; duplicates are marked, and the kept ones are unique.
    assert bool(result.converged.all()) and int(result.unique.sum()) == 27
    assert np.array_equal(result.kept, result.unique)
    assert np.all(np.diff(np.asarray(result.q)) >= 0)
    np.testing.assert_allclose(result.points, result.optimised[result.index])
    assert result.history.shape == (3000,) and result.history[-1] < result.history[0]


class Linear(eqx.Module):
    """dy/dt = -rate (y - args) on a PyTree state, e.g. {"a": (2,), "b": ()}."""

    rate: dict

    def vector_field(self, t, y, args):
        return jax.tree.map(lambda v, c, k: -k * (v - c), y, args, self.rate)


def test_pytree_state_model():
    target = {"a": jnp.asarray([1.0, -2.0]), "b": jnp.asarray(0.5)}
    model = Linear(rate={"a": jnp.asarray([2.0, 3.0]), "b": jnp.asarray(4.0)})
    rng = np.random.default_rng(1)
    candidates = {"a": jnp.asarray(rng.normal(size=(5, 2))), "b": jnp.asarray(rng.normal(size=5))}
    result = SPF(model, target, n_steps=2000, learning_rate=5e-2, tol_q=1e-9).find(candidates)
    assert len(result) == 1, result.summary()
    states = result.states()
    np.testing.assert_allclose(states["a"][0], target["a"], atol=1e-4)
    np.testing.assert_allclose(states["b"][0], target["b"], atol=1e-4)
    # Flat in ravel_pytree's order (a, then b): J = -diag(2, 3, 4).
    np.testing.assert_allclose(result.jacobians[0], -np.diag([2.0, 3.0, 4.0]), atol=1e-5)
    np.testing.assert_allclose(result.eigenvalues[0].real, [-2.0, -3.0, -4.0], atol=1e-5)


def test_pytree_state_rejects_shape_change():
    # A (2,) rate on the scalar b changes b's shape: F is not a state, a clear error.
    model = Linear(rate={"a": jnp.ones(2), "b": jnp.ones(2)})
    candidates = {"a": jnp.zeros((2, 2)), "b": jnp.zeros(2)}
    with pytest.raises(ValueError, match="same structure"):
        SPF(model, {"a": jnp.zeros(2), "b": jnp.zeros(())}, n_steps=2).find(candidates)


def test_discrete_map_logistic():
    # x -> r x (1 - x), r = 2.5: fixed points 0 (f' = r, unstable) and 1 - 1/r (f' = 2 - r).
    r = 2.5
    x0 = jnp.linspace(-0.3, 1.1, 30)[:, None]
    finder = SPF(lambda x: r * x * (1 - x), discrete=True, n_steps=3000, learning_rate=2e-2,
                 tol_q=1e-10, tol_unique=1e-3)  # fmt: skip
    result = finder.find(x0)
    assert len(result) == 2, result.summary()
    order = np.argsort(np.asarray(result.points[:, 0]))
    np.testing.assert_allclose(result.points[order, 0], [0.0, 1 - 1 / r], atol=1e-4)
    np.testing.assert_allclose(result.eigenvalues.real[order, 0], [r, 2 - r], atol=1e-3)
    np.testing.assert_array_equal(result.n_unstable()[order], [1, 0])


def test_filters_record_why():
    # Roots 0, 0.1, 0.2 close together and one at 10 far away: 4 unique points, the far one an
    # outlier (its nearest neighbour 9.8 away, > 10 x the median 0.1).
    def f(x):
        return x * (x - 0.1) * (x - 0.2) * (x - 10.0) / 10.0

    roots = np.asarray([0.0, 0.1, 0.2, 10.0])
    x0 = (roots[:, None] + np.asarray([-0.01, 0.0, 0.01])[None, :]).reshape(-1, 1)
    finder = SPF(f, n_steps=2000, learning_rate=2e-3, tol_q=1e-12, tol_unique=1e-3)
    result = finder.find(jnp.asarray(x0, jnp.float32))
    assert bool(result.converged.all()), result.q_all
    unique = np.asarray(result.optimised[result.unique, 0])
    np.testing.assert_allclose(np.sort(unique), roots, atol=1e-4)
    assert int(result.inlier.sum()) == 3 and len(result) == 3
    far = np.asarray(result.optimised[:, 0]) > 5
    assert not np.any(np.asarray(result.inlier)[far])
    # Without the outlier filter all four stay; a function with no zero keeps nothing.
    finder = SPF(f, n_steps=2000, learning_rate=2e-3, tol_q=1e-12, tol_unique=1e-3, outlier=None)
    assert len(finder.find(jnp.asarray(x0, jnp.float32))) == 4
    empty = SPF(lambda x: x**2 + 1.0, n_steps=300).find(jnp.asarray(x0[:9], jnp.float32))
    assert len(empty) == 0 and not bool(empty.converged.any())
    assert empty.jacobians.shape == (0, 1, 1) and empty.eigenvalues.shape == (0, 1)
    np.testing.assert_allclose(empty.q_all, 0.5, rtol=1e-3)  # stuck at the minimum of q, x = 0


def test_cann1d_line_attractor():
    # Bumps made by a stimulus at 16 positions round the ring, relaxed, then perturbed: each
    # converges to a free bump (height u0 of Wu et al. 2008) at about its own position; each
    # Jacobian has one eigenvalue ~0 (against -1/(2 tau) next) whose eigenvector is the bump's
    # translation d u / d z = -d u / d x.
    model = CANN1D(num=64)
    pos = np.linspace(-np.pi, np.pi, 16, endpoint=False) + 0.05
    state = model.init_state((16,))
    state, _ = nt.simulate(model, state, model.get_stimulus_by_pos(jnp.asarray(pos)), dt=0.1,
                           duration=10.0)  # fmt: skip
    state, _ = nt.simulate(model, state, None, dt=0.1, duration=20.0)
    noise = 0.01 * np.random.default_rng(2).normal(size=state.u.shape)
    finder = SPF(model, 0.0, n_steps=1000, tol_q=1e-10, tol_unique=0.05)
    result = finder.find(state.u + noise)
    assert len(result) == 16, result.summary()
    u = np.asarray(result.points)
    np.testing.assert_allclose(u.max(1), model.bump_amplitude(), rtol=0.01)
    found = np.asarray(model.decode(u))
    np.testing.assert_allclose(model.dist(found - pos[np.asarray(result.index)]), 0.0, atol=0.05)
    lam = np.asarray(result.eigenvalues)
    assert np.all(np.abs(lam[:, 0]) < 1e-4 * np.abs(lam[:, 1].real))
    np.testing.assert_allclose(lam[:, 1].real, -0.5 / float(model.tau), rtol=0.01)
    du = np.roll(u, -1, axis=1) - np.roll(u, 1, axis=1)
    v = np.asarray(result.eigenvectors[:, :, 0].real)
    cos = np.abs(np.sum(du * v, 1)) / (np.linalg.norm(du, axis=1) * np.linalg.norm(v, axis=1))
    assert cos.min() > 0.99, cos
    assert np.all(result.n_unstable(tol=1e-4) == 0)


def test_errors():
    model = CANN1D(num=8)
    with pytest.raises(ValueError, match="flow"):
        SPF(model, 0.0, discrete=True)
    with pytest.raises(ValueError, match="close over"):
        SPF(double_wells, 1.0)
    with pytest.raises(ValueError, match="n_steps"):
        SPF(double_wells, n_steps=0)
    with pytest.raises(ValueError, match="tol_q"):
        SPF(double_wells, tol_q=-1.0)
    with pytest.raises(ValueError, match="outlier"):
        SPF(double_wells, outlier=0.5)
    with pytest.raises(ValueError, match="expected a model"):
        SPF(3.0)
    with pytest.raises(ValueError, match="leading axis"):
        SPF(double_wells, n_steps=2).find(jnp.asarray(1.0))
