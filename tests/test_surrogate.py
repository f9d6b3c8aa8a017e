import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import expit

import neurotree as nt

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64

S = nt.surrogate


def _sigmoid(z):
    return expit(z)


# Analytic derivatives written out here, independently of the library's code.
CASES = [
    (S.Sigmoid(4.0), lambda x: 4.0 * _sigmoid(4.0 * x) * (1 - _sigmoid(4.0 * x))),
    (S.Sigmoid(1.5), lambda x: 1.5 * _sigmoid(1.5 * x) * (1 - _sigmoid(1.5 * x))),
    (S.FastSigmoid(10.0), lambda x: 1.0 / (1.0 + 10.0 * np.abs(x)) ** 2),
    (S.Arctan(2.0), lambda x: 2.0 / 2 / (1 + (math.pi / 2 * 2.0 * x) ** 2)),
    (S.PiecewiseLinear(0.3, 1.0), lambda x: np.maximum(0.3 * (1.0 - np.abs(x)), 0.0)),
    (S.PiecewiseLinear(2.0, 0.5), lambda x: np.maximum(2.0 * (0.5 - np.abs(x)), 0.0)),
    (S.Gaussian(0.5), lambda x: np.exp(-(x**2) / (2 * 0.25)) / (math.sqrt(2 * math.pi) * 0.5)),
]
IDS = [f"{type(fn).__name__}-{i}" for i, (fn, _) in enumerate(CASES)]
XS = np.array([-3.0, -1.0, -0.7, -0.25, -1e-3, 0.0, 1e-3, 0.3, 0.9, 2.5], dtype=np.float64)


@pytest.mark.parametrize("fn,deriv", CASES, ids=IDS)
def test_forward_is_exact_heaviside(fn, deriv):
    out = np.asarray(fn(jnp.asarray(XS)))
    np.testing.assert_array_equal(out, (XS >= 0).astype(out.dtype))


@pytest.mark.parametrize("fn,deriv", CASES, ids=IDS)
def test_grad_equals_analytic_derivative(fn, deriv):
    x = jnp.asarray(XS)
    grads = jax.vmap(jax.grad(lambda v: fn(v)))(x)
    tol = 1e-12 if x.dtype == jnp.float64 else 1e-6
    np.testing.assert_allclose(np.asarray(grads), deriv(XS), rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("fn,deriv", CASES, ids=IDS)
def test_gradients_finite_for_huge_inputs_in_float32(fn, deriv):
    x = jnp.asarray([-1e4, -1e3, -88.0, 88.0, 1e3, 1e4], dtype=jnp.float32)
    grads = jax.vmap(jax.grad(lambda v: fn(v)))(x)
    assert grads.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(grads))), grads
    assert bool(jnp.all(grads >= 0))
    # Second-order use (e.g. a Hessian-vector product) also stays finite.
    hess = jax.vmap(jax.grad(jax.grad(lambda v: fn(v) * v)))(x)
    assert bool(jnp.all(jnp.isfinite(hess)))


def test_integer_input_and_shapes():
    fn = S.Sigmoid()
    out = fn(jnp.array([[-1, 0], [2, -3]]))
    assert out.shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(out), [[0.0, 1.0], [1.0, 0.0]])


def test_grad_through_vmap_and_jit():
    fn = S.Arctan(2.0)
    f = jax.jit(jax.vmap(jax.grad(lambda v: fn(v).sum())))
    x = jnp.linspace(-1, 1, 8).reshape(4, 2)
    g = f(x)
    expected = 2.0 / 2 / (1 + (math.pi / 2 * 2.0 * np.asarray(x)) ** 2)
    np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "make,name",
    [
        (lambda: S.Sigmoid(0.0), "alpha"),
        (lambda: S.FastSigmoid(-1.0), "alpha"),
        (lambda: S.Arctan(-2.0), "alpha"),
        (lambda: S.PiecewiseLinear(1.0, 0.0), "width"),
        (lambda: S.Gaussian(0.0), "sigma"),
    ],
)
def test_bad_parameters_raise(make, name):
    with pytest.raises(ValueError, match=f"{name}=.*positive"):
        make()


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(-1e4, 1e4, width=32, allow_subnormal=False), case=st.sampled_from(range(len(CASES)))
)
def test_property_forward_is_step_and_gradient_finite(x, case):
    fn, deriv = CASES[case]
    x32 = jnp.float32(x)
    assert float(fn(x32)) == (1.0 if x >= 0 else 0.0)
    g = float(jax.grad(lambda v: fn(v))(x32))
    assert np.isfinite(g) and g >= 0
    np.testing.assert_allclose(g, deriv(np.float64(np.float32(x))), rtol=1e-4, atol=1e-7)
