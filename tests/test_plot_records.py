"""nt.plot renders headless (Agg) and plots exactly the data it was given."""

import sys

import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import neurotree as nt  # noqa: E402


def test_no_matplotlib_at_import():
    import subprocess

    code = "import sys, neurotree; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_raster_plots_every_spike():
    spikes = np.zeros((50, 4), np.float32)
    spikes[[3, 10, 10, 49], [0, 1, 3, 2]] = 1
    ax = nt.plot.raster(spikes, dt=0.5, t0=10.0)
    (points,) = ax.collections
    # Row i is the state after step i + 1: t = t0 + (i + 1) dt.
    expected = np.asarray([[12.0, 0], [15.5, 1], [15.5, 3], [35.0, 2]])
    np.testing.assert_allclose(points.get_offsets(), expected)
    assert ax.get_xlabel() == "time (ms)"
    ax.figure.canvas.draw()
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="select one batch"):
        nt.plot.raster(np.zeros((5, 2, 3)), dt=0.1)
    with pytest.raises(ValueError, match="dt"):
        nt.plot.raster(spikes, dt=-1.0)


def test_rates_lines_equal_input():
    spikes = (np.random.default_rng(0).random((400, 3, 20)) < 0.02).astype(np.float32)
    rate = np.asarray(nt.analysis.firing_rate(spikes, dt=1.0, window=20.0))
    fig, ax = plt.subplots()
    assert nt.plot.rates(rate, dt=1.0, ax=ax, labels=["a", "b", "c"]) is ax
    assert len(ax.lines) == 3
    for j, line in enumerate(ax.lines):
        np.testing.assert_allclose(line.get_xdata(), np.arange(1, 401))
        np.testing.assert_allclose(line.get_ydata(), rate[:, j])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    fig.canvas.draw()
    plt.close(fig)
    with pytest.raises(ValueError, match="labels"):
        nt.plot.rates(rate, dt=1.0, labels=["a"])


@pytest.fixture(scope="module")
def wells():
    # 9 fixed points of dx_i/dt = x_i - x_i^3 in a plane embedded in 6-D: 4 stable nodes,
    # 4 saddles and a source, the plane spanned by two orthonormal directions Q.
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 2)))

    def f(x):
        y = x @ jnp.asarray(q, jnp.float32)
        off = x - y @ jnp.asarray(q.T, jnp.float32)
        return (y - y**3) @ jnp.asarray(q.T, jnp.float32) - off

    x0 = np.random.default_rng(2).uniform(-1.5, 1.5, (200, 2)) @ q.T
    finder = nt.analysis.SlowPointFinder(f, n_steps=2000, learning_rate=3e-2, tol_q=1e-10,
                                         tol_unique=1e-2)  # fmt: skip
    return finder.find(jnp.asarray(x0, jnp.float32)), q


def test_slow_points_projection(wells):
    result, q = wells
    assert len(result) == 9
    ax = nt.plot.slow_points(result)
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    # The points lie in a plane: the 2-PC projection keeps every pairwise distance.
    points = np.concatenate(
        [np.asarray(result.points)[np.asarray(result.n_unstable()) == n] for n in (0, 1, 2)]
    )
    dist = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.testing.assert_allclose(
        np.linalg.norm(offsets[:, None] - offsets[None], axis=-1), dist, atol=1e-4
    )
    # Coloured by stability: 4 stable, 4 saddles, 1 source, in that order.
    assert [len(c.get_offsets()) for c in ax.collections] == [4, 4, 1]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "stable" and labels[1].startswith("saddle")
    ax.figure.canvas.draw()
    plt.close(ax.figure)


def test_slow_points_3d_with_trajectories(wells):
    result, q = wells
    t = np.linspace(0, 1, 50)[:, None, None]
    trajectories = t * np.asarray(result.points)[None, :2]  # (50, 2, 6)
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    assert nt.plot.slow_points(result, ax=ax, dims=3, trajectories=trajectories) is ax
    assert len(ax.lines) == 2
    fig.canvas.draw()
    plt.close(fig)
    with pytest.raises(ValueError, match="projection='3d'"):
        nt.plot.slow_points(result, ax=plt.subplots()[1], dims=3)
    with pytest.raises(ValueError, match="trajectories"):
        nt.plot.slow_points(result, trajectories=np.zeros((5, 3)))
    plt.close("all")
