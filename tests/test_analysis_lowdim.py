"""nt.analysis low-dimensional analysis (phase plane, bifurcations, fast-slow) against analytic
results derived here from each model's equations, and scipy references."""

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import neurotree as nt
from neurotree.analysis._bifurcation import _bialternate

matplotlib.use("Agg")

# FitzHugh-Nagumo, typed out independently: dv/dt = v - v^3/3 - w + I, tau dw/dt = v + a - b w.
A, B, TAU = 0.7, 0.8, 12.5
FHN_BOX = {"v": (-3.0, 3.0), "w": (-1.5, 3.5)}


def _fhn_rhs(t, u, current, a=A, b=B):
    v, w = u
    return [v - v**3 / 3 - w + current, (v + a - b * w) / TAU]


def _fhn_fixed_point(current, a=A, b=B):
    """w = (v + a) / b and the real root of v^3 / 3 + (1 / b - 1) v + a / b - I = 0."""
    roots = np.roots([1 / 3, 0.0, 1 / b - 1, a / b - current])
    (v,) = roots[np.abs(roots.imag) < 1e-9].real
    return np.array([v, (v + a) / b])


def _fhn_current_at(v, a=A, b=B):
    """The input whose fixed point has this v: I = v^3 / 3 - v + (v + a) / b."""
    return v**3 / 3 - v + (v + a) / b


def _fhn_hopf(a=A, b=B):
    """tr J = 1 - v^2 - b / tau = 0 at v = -+sqrt(1 - b / tau) (det J > 0 there)."""
    v = np.sqrt(1 - b / TAU)
    return np.array([_fhn_current_at(-v, a, b), _fhn_current_at(v, a, b)])


def _fhn_fold(a=A, b=B):
    """det J = (1 - b (1 - v^2)) / tau = 0 at v = -+sqrt(1 - 1 / b) (b > 1)."""
    v = np.sqrt(1 - 1 / b)
    return np.array([_fhn_current_at(v, a, b), _fhn_current_at(-v, a, b)])


# --- the adapter ---------------------------------------------------------------------------


def test_vector_field_is_the_models_equations_with_autodiff_jacobian():
    fhn = nt.neurons.FitzHughNagumo(1)
    f = nt.analysis.VectorField(fhn, ["v", "w"], ["input", "a"])
    np.testing.assert_allclose(f.p0, [0.0, A])
    x, p = jnp.array([0.3, -0.2]), jnp.array([0.5, 0.9])
    np.testing.assert_allclose(f(x, p), _fhn_rhs(0, [0.3, -0.2], 0.5, a=0.9), rtol=1e-6)
    J = jax.jacfwd(f)(x, p)
    np.testing.assert_allclose(J, [[1 - 0.3**2, -1.0], [1 / TAU, -B / TAU]], rtol=1e-6)
    # d f / d a is 1 / tau in w only; vmap over many points.
    np.testing.assert_allclose(jax.jacfwd(f, argnums=1)(x, p)[:, 1], [0.0, 1 / TAU], rtol=1e-6)
    xs = jnp.stack([x, 2 * x, -x])
    np.testing.assert_allclose(jax.vmap(f, (0, None))(xs, p)[1], f(2 * x, p), rtol=1e-6)
    # Order of variables follows `variables`; the other state variable is held (fixed or rest).
    g = nt.analysis.VectorField(fhn, ["w"], fixed={"v": 0.3, "input": 0.5})
    np.testing.assert_allclose(g(jnp.array([-0.2])), _fhn_rhs(0, [0.3, -0.2], 0.5)[1:], rtol=1e-6)
    rest = nt.analysis.VectorField(fhn, ["w"])
    np.testing.assert_allclose(rest.y0[0], _fhn_fixed_point(0.0)[0], atol=1e-5)


def test_vector_field_single_variable_state_parameter_and_bare_callable():
    qif = nt.neurons.QuaIF(1)  # y is v itself, not a tuple
    f = nt.analysis.VectorField(qif, ["v"], ["input"])
    v, current = -55.0, 2.0
    expected = (0.07 * (v + 65.0) * (v + 50.0) + current) / 10.0
    np.testing.assert_allclose(f(jnp.array([v]), jnp.array([current])), [expected], rtol=1e-6)
    # A held state variable as the parameter (the slow variable of a fast-slow analysis).
    hr = nt.neurons.HindmarshRose(1)
    h = nt.analysis.VectorField(hr, ["v", "y"], ["z"], fixed={"input": 3.0})
    out = h(jnp.array([0.5, -1.0]), jnp.array([2.0]))
    np.testing.assert_allclose(out, [-1.0 - 0.125 + 0.75 - 2.0 + 3.0, 1 - 1.25 + 1.0], rtol=1e-6)

    def rhs(t, y, args):  # a diffrax-style field whose args are a dict of parameters
        x, z = y
        return args["k"] * x - z, x * z

    bare = nt.analysis.VectorField(
        rhs, ["x"], ["k"], state_names=["x", "z"], fixed={"z": 2.0, "input": {"k": 3.0}}
    )
    np.testing.assert_allclose(bare(jnp.array([1.5]), jnp.array([-1.0])), [-3.5])


def test_vector_field_errors_name_the_problem():
    fhn = nt.neurons.FitzHughNagumo(1)
    with pytest.raises(ValueError, match="'u' is not a state variable"):
        nt.analysis.VectorField(fhn, ["v", "u"])
    with pytest.raises(ValueError, match="unknown name 'gamma'"):
        nt.analysis.VectorField(fhn, ["v", "w"], ["gamma"])
    with pytest.raises(ValueError, match="both variables and parameters"):
        nt.analysis.VectorField(fhn, ["v", "w"], ["v"])
    with pytest.raises(ValueError, match="size 1"):
        nt.analysis.VectorField(nt.neurons.FitzHughNagumo(3), ["v", "w"])
    with pytest.raises(ValueError, match="state_names"):
        nt.analysis.VectorField(lambda t, y, args: y, ["x"])
    with pytest.raises(ValueError, match="neither analysed nor given"):
        nt.analysis.VectorField(lambda t, y, args: y, ["x"], state_names=["x", "z"])
    with pytest.raises(ValueError, match="one or two variables"):
        nt.analysis.PhasePlane(nt.neurons.HindmarshRose(1), {"v": (0, 1), "y": (0, 1), "z": (0, 1)})
    with pytest.raises(ValueError, match="increasing"):
        nt.analysis.Bifurcation(fhn, FHN_BOX, {"input": [1.0, 0.0]})
    with pytest.raises(ValueError, match="low < high"):
        nt.analysis.PhasePlane(fhn, {"v": (1.0, -1.0), "w": (0.0, 1.0)})


# --- classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "eigenvalues, kind, n_unstable",
    [
        ([-1.0], "stable point", 0),
        ([0.5], "unstable point", 1),
        ([-1.0, -2.0], "stable node", 0),
        ([1.0, 2.0], "unstable node", 2),
        ([1.0, -2.0], "saddle", 1),
        ([-0.1 + 1j, -0.1 - 1j], "stable focus", 0),
        ([0.1 + 1j, 0.1 - 1j], "unstable focus", 2),
        ([1j, -1j], "centre", 0),
        ([0.0, -1.0], "degenerate", 0),
        ([-1.0, -2.0 + 1j, -2.0 - 1j], "stable", 0),
        ([1.0, -2.0 + 1j, -2.0 - 1j], "saddle", 1),
        ([1.0, 2.0 + 1j, 2.0 - 1j], "unstable", 3),
    ],
)
def test_classify(eigenvalues, kind, n_unstable):
    assert nt.analysis.classify(np.array(eigenvalues)) == (kind, n_unstable)


def test_bialternate_product_has_the_pairwise_eigenvalue_sums():
    J = np.random.default_rng(0).normal(size=(4, 4))
    lam = np.linalg.eigvals(J)
    sums = np.array([lam[i] + lam[j] for i in range(4) for j in range(i)])
    got = np.linalg.eigvals(_bialternate(J))
    key = lambda z: np.lexsort((np.round(z.imag, 8), np.round(z.real, 8)))  # noqa: E731
    np.testing.assert_allclose(got[key(got)], sums[key(sums)], atol=1e-10)
    np.testing.assert_allclose(_bialternate(J[:2, :2]), [[J[0, 0] + J[1, 1]]])


# --- fixed points and phase plane ----------------------------------------------------------


@pytest.mark.parametrize("current, kind", [(0.0, "stable focus"), (0.5, "unstable focus")])
def test_fhn_fixed_point_and_stability(current, kind):
    fp = nt.analysis.fixed_points(nt.neurons.FitzHughNagumo(1), FHN_BOX, fixed={"input": current})
    assert fp.kind == (kind,) and fp.stable.tolist() == [kind.startswith("stable")]
    np.testing.assert_allclose(fp.x[0], _fhn_fixed_point(current), atol=1e-5)
    v = fp.x[0, 0]
    J = np.array([[1 - v**2, -1.0], [1 / TAU, -B / TAU]])
    expected = np.sort_complex(np.linalg.eigvals(J))
    np.testing.assert_allclose(np.sort_complex(fp.eigenvalues[0]), expected, atol=1e-5)


def test_fixed_points_in_three_dimensions():
    # Hindmarsh-Rose at I = 0 has one fixed point, the rest state `init_state` finds by Newton.
    hr = nt.neurons.HindmarshRose(1)
    fp = nt.analysis.fixed_points(hr, {"v": (-3, 3), "y": (-20, 2), "z": (-5, 5)}, n_starts=5)
    rest = hr.init_state()
    assert fp.kind == ("stable",) and fp.n_unstable.tolist() == [0]
    np.testing.assert_allclose(fp.x[0], [rest.v[0], rest.y[0], rest.z[0]], atol=1e-4)


def test_phase_plane_nullclines_flow_and_trajectories():
    current = 0.5
    pp = nt.analysis.PhasePlane(nt.neurons.FitzHughNagumo(1), FHN_BOX, fixed={"input": current})
    result = pp.analyse(x0=[[-2.0, 0.0], [1.0, 3.0]], duration=60.0, nullcline_resolution=200)
    v_null, w_null = (s.reshape(-1, 2) for s in result.nullclines)
    assert len(v_null) > 100 and len(w_null) > 100
    # On the grid, crossings are linear interpolations: close to the exact curves.
    err_v = np.abs(v_null[:, 1] - (v_null[:, 0] - v_null[:, 0] ** 3 / 3 + current))
    assert err_v.max() < 2e-3
    np.testing.assert_allclose(w_null[:, 1], (w_null[:, 0] + A) / B, atol=1e-5)
    vs, ws = np.meshgrid(*result.axes, indexing="ij")
    np.testing.assert_allclose(result.flow, _fhn_rhs(0, [vs, ws], current), rtol=1e-5, atol=1e-5)
    traj = result.trajectories
    assert not traj.escaped.any()
    ref = solve_ivp(_fhn_rhs, (0, 60.0), [-2.0, 0.0], args=(current,), method="DOP853",
                    rtol=1e-10, atol=1e-12, t_eval=traj.t)  # fmt: skip
    np.testing.assert_allclose(traj.x[0], ref.y.T, atol=2e-4)
    # A start far outside the ranges is stopped and reported, not dropped.
    far = pp.trajectories([[40.0, 0.0]], duration=10.0)
    assert far.escaped.tolist() == [True] and np.isnan(far.x[0, -1]).all()


def test_one_dimensional_phase_plane_qif():
    qif = nt.neurons.QuaIF(1)
    result = nt.analysis.PhasePlane(qif, {"v": (-80.0, -35.0)}, fixed={"input": 2.0}).analyse()
    # 0.07 (v + 65)(v + 50) + 2 = 0.
    roots = np.sort(np.roots([0.07, 0.07 * 115, 0.07 * 65 * 50 + 2.0]).real)
    np.testing.assert_allclose(result.fixed_points.x[:, 0], roots, atol=1e-3)
    assert result.fixed_points.kind == ("stable point", "unstable point")
    v = result.axes[0]
    expected = (0.07 * (v + 65) * (v + 50) + 2.0) / 10.0
    np.testing.assert_allclose(result.flow[0], expected, rtol=1e-5, atol=1e-6)


# --- bifurcations --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fhn_codim1():
    bif = nt.analysis.Bifurcation(
        nt.neurons.FitzHughNagumo(1), FHN_BOX, {"input": np.linspace(0.0, 2.0, 41)}, n_starts=6
    )
    return bif.analyse(duration=600.0, transient=300.0, n_save=4000)


@pytest.fixture(scope="module")
def fhn_codim2():
    # Over (I, b): Hopf curves for b < sqrt(tau), saddle-node curves for b > 1 (bistability).
    bif = nt.analysis.Bifurcation(
        nt.neurons.FitzHughNagumo(1), FHN_BOX,
        {"input": np.linspace(-0.5, 2.0, 26), "b": np.linspace(0.6, 1.5, 10)}, n_starts=5,
    )  # fmt: skip
    return bif.analyse()


# Hindmarsh-Rose with the defaults a, b, c, d = 1, 3, 1, 5, at I = 3 (bursting).
HR_A, HR_B, HR_C, HR_D, HR_I = 1.0, 3.0, 1.0, 5.0, 3.0


@pytest.fixture(scope="module")
def hr_fast_slow():
    fs = nt.analysis.FastSlowBifurcation(
        nt.neurons.HindmarshRose(1), {"v": (-2.5, 2.5), "y": (-25.0, 2.0)},
        {"z": np.linspace(2.0, 4.5, 26)}, fixed={"input": HR_I}, n_starts=6,
    )  # fmt: skip
    return fs.analyse(duration=1200.0, transient=400.0, n_save=2000, cycle_duration=300.0)


def test_fhn_hopf_points_stability_and_limit_cycle(fhn_codim1):
    result = fhn_codim1
    np.testing.assert_allclose(result.hopf.p[:, 0], _fhn_hopf(), rtol=1e-5)  # issue: 1%
    # At the Hopf point the eigenvalues are +-i sqrt(det J), det J = (1 - b (1 - v^2)) / tau.
    v = result.hopf.x[:, 0]
    np.testing.assert_allclose(
        result.hopf.frequency, np.sqrt((1 - B * (1 - v**2)) / TAU), rtol=1e-4
    )
    assert len(result.saddle_nodes) == 0  # det J > 0 everywhere for b < 1
    # One fixed point everywhere, at the analytic position; stable exactly outside the Hopf pair.
    I = result.values[0]
    assert np.all(result.count == 1)
    expected = np.array([_fhn_fixed_point(i) for i in I])
    np.testing.assert_allclose(result.x[:, 0], expected, atol=1e-4)
    lo, hi = _fhn_hopf()
    assert np.array_equal(result.stable[:, 0], (I < lo) | (I > hi))
    # Limit cycles where no fixed point is stable; their extent matches a scipy run.
    c = result.cycles
    np.testing.assert_array_equal(c.p[:, 0], I[(I > lo) & (I < hi)])
    assert np.all(np.isfinite(c.x_max))
    k = np.argmin(np.abs(c.p[:, 0] - 1.0))
    t = np.linspace(300.0, 600.0, 30001)
    start = expected[np.argmin(np.abs(I - 1.0))] + 0.01
    ref = solve_ivp(_fhn_rhs, (0, 600.0), start, args=(c.p[k, 0],), method="DOP853",
                    rtol=1e-10, atol=1e-12, t_eval=t).y  # fmt: skip
    np.testing.assert_allclose(c.x_min[k], ref.min(axis=1), atol=2e-3)
    np.testing.assert_allclose(c.x_max[k], ref.max(axis=1), atol=2e-3)


def test_fhn_codim2_hopf_and_saddle_node_curves(fhn_codim2):
    result = fhn_codim2
    assert result.x.shape[:2] == (26, 10) and result.cycles is None
    I, b = result.hopf.p.T
    hopf_lines = np.stack([_fhn_hopf(b=bi) for bi in b])
    assert np.min(np.abs(hopf_lines - I[:, None]), axis=1).max() < 1e-4
    # Both Hopf curves are traced across the b range.
    near = np.argmin(np.abs(hopf_lines - I[:, None]), axis=1)
    assert set(near) == {0, 1} and np.ptp(b) > 0.6
    I, b = result.saddle_nodes.p.T
    assert len(I) >= 6 and np.all(b >= 1.0 - 1e-6)  # b = 1: the cusp, where the folds meet
    fold_lines = np.stack([_fhn_fold(b=bi) for bi in b])
    assert np.min(np.abs(fold_lines - I[:, None]), axis=1).max() < 1e-4
    # Three fixed points inside the fold curves, one outside.
    assert result.count.max() == 3 and result.count.min() == 1


def test_qif_saddle_node_at_the_rheobase():
    # tau dv/dt = c (v - v_rest)(v - v_c) + R I: the roots merge when R I = c (v_c - v_rest)^2 / 4.
    qif = nt.neurons.QuaIF(1, R=2.0)
    rheobase = 0.07 * 15.0**2 / (4 * 2.0)
    bif = nt.analysis.Bifurcation(qif, {"v": (-90.0, -25.0)}, {"input": np.linspace(0, 4, 41)})
    result = bif.analyse(duration=50.0)
    np.testing.assert_allclose(result.saddle_nodes.p[:, 0], [rheobase], rtol=1e-5)
    np.testing.assert_allclose(result.saddle_nodes.x[:, 0], [-57.5], atol=1e-3)
    I = result.values[0]
    np.testing.assert_array_equal(result.count, np.where(I < rheobase, 2, 0))
    assert len(result.hopf) == 0
    # Above the rheobase v runs away (the reset is not part of the vector field): reported NaN.
    assert np.all(np.isnan(result.cycles.x_max)) and len(result.cycles.p) == np.sum(I > rheobase)


def test_izhikevich_saddle_node_and_hopf():
    # Fixed points: u = b v, 0.04 v^2 + (5 - b) v + 140 + I = 0; they merge at
    # I = (5 - b)^2 / 0.16 - 140 (= 4 for b = 0.2). The lower one loses stability earlier, where
    # tr J = 0.08 v + 5 - a = 0 (v = -62.25), at I = -140 - 0.04 v^2 - (5 - b) v.
    a, b = 0.02, 0.2
    izh = nt.neurons.Izhikevich(1, a=a, b=b)
    rheobase = (5 - b) ** 2 / 0.16 - 140.0
    v_h = (a - 5) / 0.08
    hopf = -140.0 - 0.04 * v_h**2 - (5 - b) * v_h
    bif = nt.analysis.Bifurcation(
        izh, {"v": (-80.0, -40.0), "u": (-18.0, -6.0)}, {"input": np.linspace(0, 6, 31)}
    )
    result = bif.analyse(cycles=False)
    np.testing.assert_allclose(result.saddle_nodes.p[:, 0], [rheobase], rtol=1e-4)
    np.testing.assert_allclose(result.saddle_nodes.x[0], [-60.0, -12.0], atol=1e-2)
    np.testing.assert_allclose(result.hopf.p[:, 0], [hopf], rtol=1e-4)
    np.testing.assert_allclose(result.hopf.x[0, 0], v_h, atol=1e-2)


def test_hindmarsh_rose_fast_slow_knees_and_trajectory(hr_fast_slow):
    # Fast subsystem (v, y) with z frozen: y = c - d v^2 and z = I + c + (b - d) v^2 - a v^3.
    # Knees: dz/dv = 2 (b - d) v - 3 a v^2 = 0; Hopf: tr J = -3 a v^2 + 2 b v - 1 = 0 with
    # det J = 3 a v^2 - 2 b v + 2 d v > 0.
    a, b, c, d = HR_A, HR_B, HR_C, HR_D
    z_of = lambda v: HR_I + c + (b - d) * v**2 - a * v**3  # noqa: E731
    knees_v = np.array([2 * (b - d) / (3 * a), 0.0])
    v_h = (2 * b - np.sqrt(4 * b * b - 12 * a)) / (6 * a)
    result = hr_fast_slow
    sn = result.bifurcation.saddle_nodes
    np.testing.assert_allclose(sn.x[:, 0], knees_v, atol=1e-4)
    np.testing.assert_allclose(sn.p[:, 0], z_of(knees_v), rtol=1e-6)
    np.testing.assert_allclose(result.bifurcation.hopf.x[:, 0], [v_h], atol=1e-4)
    np.testing.assert_allclose(result.bifurcation.hopf.p[:, 0], [z_of(v_h)], rtol=1e-6)
    # Branches: the S-curve's points satisfy z(v); lower branch stable, middle saddles.
    bif = result.bifurcation
    z = np.broadcast_to(bif.values[0][:, None], bif.kind.shape)
    have = bif.kind != ""
    np.testing.assert_allclose(z_of(bif.x[..., 0][have]), z[have], atol=1e-4)
    v = bif.x[..., 0]
    assert np.all(np.char.startswith(bif.kind[have & (v < knees_v[0])], "stable"))
    assert np.all(bif.kind[have & (v > knees_v[0]) & (v < 0)] == "saddle")
    # Spiking orbits of the fast subsystem exist below the bistable range's top.
    found = np.isfinite(bif.cycles.x_max[:, 0])
    assert bif.cycles.p[found, 0].min() == pytest.approx(2.0)
    assert np.all(bif.cycles.x_max[found, 0] > 0) and np.all(bif.cycles.x_min[found, 0] < 0)
    # The full trajectory bursts: quiescent near the lower branch, spiking above v = 1, while z
    # sweeps the bistable range.
    path = result.trajectory.x[0]
    assert result.trajectory.variables == ("v", "y", "z") and not result.trajectory.escaped[0]
    assert path[:, 0].min() < -1.2 and path[:, 0].max() > 1.0
    assert path[:, 2].min() < z_of(knees_v[0]) + 0.3 and path[:, 2].max() > 3.0


# --- plots -----------------------------------------------------------------------------------


def test_plots_render_headless(fhn_codim1, fhn_codim2, hr_fast_slow):
    import matplotlib.pyplot as plt

    fhn = nt.neurons.FitzHughNagumo(1)
    pp = nt.analysis.PhasePlane(fhn, FHN_BOX, fixed={"input": 0.5})
    ax = nt.plot.phase_plane(pp.analyse(x0=[[0.0, 0.0]], duration=50.0, nullcline_resolution=60))
    assert len(ax.collections) >= 3 and len(ax.lines) >= 1  # stream lines, nullclines, points
    qif = nt.analysis.PhasePlane(nt.neurons.QuaIF(1), {"v": (-80.0, -35.0)}, fixed={"input": 1.0})
    ax = nt.plot.phase_plane(qif.analyse())
    assert len(ax.lines) >= 2 and len(ax.collections) >= 2
    ax = nt.plot.bifurcation(fhn_codim1)
    labels = {h.get_label() for h in ax.get_legend().legend_handles}
    assert {"stable", "unstable", "Hopf", "limit cycle max / min"} <= labels
    ax = nt.plot.bifurcation(fhn_codim2)
    labels = {h.get_label() for h in ax.get_legend().legend_handles}
    assert {"saddle-node", "Hopf"} <= labels and len(ax.collections) >= 3
    ax = nt.plot.fast_slow(hr_fast_slow)
    assert "trajectory" in {line.get_label() for line in ax.lines}
    labels = {h.get_label() for h in ax.get_legend().legend_handles}
    assert {"stable", "saddle", "saddle-node", "Hopf"} <= labels
    with pytest.raises(ValueError, match="expected one of"):
        nt.plot.bifurcation(fhn_codim1, variable="z")
    plt.close("all")
