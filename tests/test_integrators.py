import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurotree as nt
from neurotree.integrators import ExponentialEuler, ExponentialRK2, init_carry, integrate

# Precision-sensitive: CI runs this module again with JAX_ENABLE_X64=1.
pytestmark = pytest.mark.x64


@pytest.mark.parametrize("solver", [ExponentialEuler(), ExponentialRK2()], ids=["EE", "ERK2"])
def test_exponential_solvers_are_exact_for_linear_dynamics(solver):
    # dy/dt = a (y - b) + c with per-element a: y(t) = b - c/a + (y0 - b + c/a) exp(a t).
    with jax.enable_x64(True):
        a = jnp.array([-0.1, -2.0, -50.0, 0.3])
        b, c, y0 = jnp.array([1.0, -3.0, 0.5, 2.0]), jnp.array([0.2, 1.0, -4.0, 0.1]), 0.7
        term = diffrax.ODETerm(lambda t, y, args: a * (y - b) + c)
        sol = diffrax.diffeqsolve(
            term, solver, t0=0.0, t1=2.8, dt0=0.7, y0=jnp.full(4, y0),
            saveat=diffrax.SaveAt(steps=True),
        )  # fmt: skip
        ts = np.asarray(sol.ts)[: int(sol.stats["num_steps"]), None]
        ys = np.asarray(sol.ys)[: ts.shape[0]]
        assert ts.shape[0] == 4
        an, bn, cn = np.asarray(a), np.asarray(b), np.asarray(c)
        exact = bn - cn / an + (y0 - bn + cn / an) * np.exp(an * ts)
        assert ys.dtype == np.float64
        np.testing.assert_allclose(ys, exact, rtol=1e-12)


def test_exponential_euler_handles_pytrees_and_zero_rate():
    # Gating-variable form dm/dt = alpha (1 - m) - beta m for two leaves; and a = 0 (pure drift).
    alpha, beta = 0.5, 2.0

    def vf(t, y, args):
        m, x = y
        return alpha * (1 - m) - beta * m, jnp.ones_like(x) * 3.0

    y1, _ = integrate(
        ExponentialEuler(), vf, 0.0, 0.4, (jnp.array(0.1), jnp.array(1.0)), None, None
    )
    m_inf, tau = alpha / (alpha + beta), 1 / (alpha + beta)
    np.testing.assert_allclose(float(y1[0]), m_inf + (0.1 - m_inf) * np.exp(-0.4 / tau), rtol=1e-6)
    np.testing.assert_allclose(float(y1[1]), 1.0 + 3.0 * 0.4, rtol=1e-6)
    g = jax.grad(lambda d: integrate(ExponentialEuler(), vf, 0.0, d, (0.1, 1.0), None, None)[0][1])(
        0.0
    )
    assert np.isfinite(float(g))


def _order(solver, term, y0, t1, exact, dts):
    errs = []
    for dt in dts:
        sol = diffrax.diffeqsolve(term, solver, 0.0, t1, dt, y0)
        errs.append(float(np.max(np.abs(np.asarray(jax.tree.leaves(sol.ys))[:, -1] - exact))))
    return np.polyfit(np.log(dts), np.log(errs), 1)[0]


def test_exponential_euler_order_on_nonlinear_dynamics():
    dts = [0.1, 0.05, 0.025, 0.0125]
    with jax.enable_x64(True):
        # Uncoupled (diagonal Jacobian), autonomous: dy/dt = -y^2, y(t) = 1 / (1 + t). Using the
        # exact Jacobian makes this the exponential Rosenbrock-Euler method: second order.
        term = diffrax.ODETerm(lambda t, y, a: -(y**2))
        slope = _order(ExponentialEuler(), term, 1.0, 2.0, 1 / 3, dts)
        assert abs(slope - 2.0) < 0.3, slope
        # Coupled across leaves (the off-diagonal part is treated explicitly): first order.
        # x' = -y, y' = x from (1, 0): (cos t, sin t).
        term = diffrax.ODETerm(lambda t, y, a: (-y[1] - 0.1 * y[0], y[0]))
        ref = diffrax.diffeqsolve(
            term, diffrax.Dopri8(), 0.0, 2.0, 1e-3, (1.0, 0.0),
            stepsize_controller=diffrax.PIDController(rtol=1e-13, atol=1e-13),
        )  # fmt: skip
        exact = np.array([float(ref.ys[0][-1]), float(ref.ys[1][-1])])
        slope = _order(ExponentialEuler(), term, (1.0, 0.0), 2.0, exact, dts)
        assert abs(slope - 1.0) < 0.3, slope
        # ExponentialRK2 (ETD2RK) is second order with the coupling included.
        slope = _order(ExponentialRK2(), term, (1.0, 0.0), 2.0, exact, dts)
        assert abs(slope - 2.0) < 0.3, slope


def test_exponential_euler_rejects_non_ode_drift():
    bm = diffrax.UnsafeBrownianPath(shape=(), key=jax.random.key(0))
    term = diffrax.ControlTerm(lambda t, y, a: 1.0, bm)
    with pytest.raises(ValueError, match="needs an ODETerm"):
        ExponentialEuler().step(term, 0.0, 0.1, 0.0, None, None, False)


class Tracker(eqx.Module):
    """Counts vector-field evaluations to see when an FSAL stage is reused."""

    def __call__(self, t, y, args):
        return -y + args


def test_fsal_cache_reused_only_when_valid():
    solver = diffrax.Tsit5()
    vf = Tracker()
    y = jnp.array([1.0, 2.0])
    args = jnp.array([0.5, 0.5])
    carry = init_carry(solver, vf, y, args)
    assert carry is not None
    # A fresh FSAL carry says "first step": our step must equal diffrax's own first step.
    ys_ours = []
    for _ in range(5):
        y, carry = integrate(solver, vf, 0.0, 0.1, y, args, carry)
        ys_ours.append(y)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vf), solver, 0.0, 0.5, 0.1, jnp.array([1.0, 2.0]), args,
        saveat=diffrax.SaveAt(ts=jnp.linspace(0.1, 0.5, 5)),
    )  # fmt: skip
    np.testing.assert_allclose(np.stack(ys_ours), np.asarray(sol.ys), rtol=1e-6)
    # After a jump in y (a reset) or in the input, the stale stage must not be used: the result
    # equals a step from a freshly initialised carry.
    for y_new, args_new in [(y.at[0].set(-5.0), args), (y, args + 3.0)]:
        after, _ = integrate(solver, vf, 0.5, 0.1, y_new, args_new, carry)
        fresh, _ = integrate(solver, vf, 0.5, 0.1, y_new, args_new, init_carry(solver, vf, y, args))
        np.testing.assert_allclose(np.asarray(after), np.asarray(fresh), rtol=1e-7)
        exact = args_new + (y_new - args_new) * np.exp(-0.1)
        np.testing.assert_allclose(np.asarray(after), np.asarray(exact), rtol=1e-6)


@pytest.mark.parametrize(
    "solver",
    [ExponentialEuler(), diffrax.Euler(), diffrax.Heun()],
    ids=["ExpEuler", "Euler", "Heun"],
)
def test_ou_process_reaches_stationary_mean_and_variance(solver):
    mean, sigma, tau = 1.5, 0.8, 5.0
    model = nt.inputs.OUProcess(20_000, mean=mean, sigma=sigma, tau=tau, solver=solver)
    key = jax.random.key(42)
    _, xs = nt.simulate(model, model.init_state(), dt=0.05, duration=60.0, every=200, key=key)
    # After 12 correlation times the start (x = mean) is forgotten; the last record's samples are
    # independent across the 20,000 elements. Sampling error of the variance is ~1%.
    final = np.asarray(xs[-1], np.float64)
    assert abs(final.mean() - mean) < 0.05 * mean
    assert abs(final.var() - sigma**2) < 0.05 * sigma**2
    # Autocorrelation between records 10 ms apart is exp(-10 / tau).
    a, b = np.asarray(xs[-2], np.float64) - mean, np.asarray(xs[-1], np.float64) - mean
    corr = (a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean())
    assert abs(corr - np.exp(-10.0 / tau)) < 0.03


class GeometricNoise(nt.DynamicalSystem):
    """dX = sigma X dW: Ito gives E[X_t] = X0, Stratonovich gives X0 exp(sigma^2 t / 2)."""

    sigma: float
    solver: diffrax.AbstractSolver = eqx.field(static=True)

    def init_state(self, batch_shape=(), *, key=None):
        return jnp.ones(batch_shape)

    def __call__(self, x, inputs, *, t, dt, key=None):
        x, _ = integrate(
            self.solver, lambda t, y, a: jnp.zeros_like(y), t, dt, x, None, None,
            diffusion=lambda t, y, a: self.sigma * y, key=key,
        )  # fmt: skip
        return x, x


@pytest.mark.parametrize(
    "solver,expected",
    [(diffrax.Euler(), 1.0), (ExponentialEuler(), 1.0), (diffrax.Heun(), float(np.exp(0.5 * 2.0)))],
    ids=["Ito-Euler", "Ito-ExpEuler", "Stratonovich-Heun"],
)
def test_ito_and_stratonovich(solver, expected):
    model = GeometricNoise(sigma=1.0, solver=solver)
    x, _ = nt.simulate(model, model.init_state((50_000,)), dt=0.01, duration=2.0, every=200,
                       key=jax.random.key(1))  # fmt: skip
    # Std of the sample mean: sqrt(Var X_t / n) ~ 0.012 (Ito), ~ 0.04 (Stratonovich).
    assert abs(float(x.mean()) - expected) < 0.05 * expected, float(x.mean())


def test_noise_without_key_raises():
    model = GeometricNoise(sigma=1.0, solver=diffrax.Euler())
    with pytest.raises(ValueError, match="no key"):
        model(model.init_state((2,)), None, t=0.0, dt=0.1)


@pytest.mark.parametrize(
    "solver,order,dts",
    [
        (diffrax.Euler(), 1, [0.1, 0.05, 0.025, 0.0125]),
        (ExponentialEuler(), 1, [0.1, 0.05, 0.025, 0.0125]),
        (ExponentialRK2(), 2, [0.2, 0.1, 0.05, 0.025]),
        (diffrax.Heun(), 2, [0.2, 0.1, 0.05, 0.025]),
        (diffrax.Tsit5(), 5, [1.0, 0.5, 0.25, 0.125]),
        (diffrax.Dopri5(), 5, [1.0, 0.5, 0.25, 0.125]),
    ],
    ids=["Euler", "ExponentialEuler", "ExponentialRK2", "Heun", "Tsit5", "Dopri5"],
)
def test_global_convergence_order_on_fitzhugh_nagumo(solver, order, dts):
    """Global error at t = 20 of the clock-driven runner against a tight Dopri8 reference."""
    T, current = 20.0, 0.5
    with jax.enable_x64(True):
        model = nt.neurons.FitzHughNagumo(1, solver=solver)
        y0 = nt.neurons.FitzHughNagumoState(v=jnp.array([-1.0]), w=jnp.array([0.5]), carry=None)
        ref = diffrax.diffeqsolve(
            diffrax.ODETerm(model.vector_field), diffrax.Dopri8(), 0.0, T, 0.01,
            (y0.v, y0.w), jnp.array([current]),
            stepsize_controller=diffrax.PIDController(rtol=1e-13, atol=1e-13),
            max_steps=100_000,
        )  # fmt: skip
        exact = np.array([float(ref.ys[0][-1, 0]), float(ref.ys[1][-1, 0])])
        errs = []
        for dt in dts:
            start = model.init_state()
            start = eqx.tree_at(lambda s: (s.v, s.w), start, (y0.v, y0.w))
            state, _ = nt.simulate(model, start, current, dt=dt, duration=T)
            errs.append(np.max(np.abs(np.array([float(state.v[0]), float(state.w[0])]) - exact)))
        slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    if order >= 4:
        assert slope >= 4.0 - 0.3, (slope, errs)
    else:
        assert abs(slope - order) < 0.3, (slope, errs)
