"""Bifurcations: FitzHugh-Nagumo against its input (codim 1) and against (I, a) (codim 2), and
Rinzel's fast-slow dissection of Hindmarsh-Rose bursting.

FitzHugh-Nagumo (a = 0.7, b = 0.8, tau = 12.5) has Hopf points where tr J = 1 - v^2 - b / tau
vanishes at the fixed point, v* = -+sqrt(1 - b / tau), at I = v*^3 / 3 - v* + (v* + a) / b
(0.3313 and 1.4187); they are lines in the (I, a) plane. Hindmarsh-Rose's fast subsystem (v, y)
with z frozen has the S-shaped curve z = I + c + (b - d) v^2 - a v^3, whose knees (saddle-nodes)
are at dz/dv = 0: v = 0 (z = I + 1) and v = -4/3 (z = I - 5/27) for the defaults.

    python examples/bifurcation.py [--small] [--out examples/out]
"""

import argparse
import pathlib

import numpy as np

import neurotree as nt

A, B, TAU, I_HR = 0.7, 0.8, 12.5, 3.0


def fhn_hopf_currents(a=A, b=B, tau=TAU):
    v = np.sqrt(1.0 - b / tau)
    return np.array([x**3 / 3 - x + (x + a) / b for x in (-v, v)])


def main(small: bool = False, out: str = "examples/out") -> dict:
    fhn = nt.neurons.FitzHughNagumo(1)
    box = {"v": (-3.0, 3.0), "w": (-1.5, 3.5)}
    codim1 = nt.analysis.Bifurcation(
        fhn, box, {"input": np.linspace(0.0, 2.0, 81 if small else 401)}, n_starts=8
    ).analyse(duration=400.0 if small else 1000.0)
    hopf = codim1.hopf.p[:, 0]
    expected = fhn_hopf_currents()
    print("FitzHugh-Nagumo, codim 1 in I:")
    for found, exact, w in zip(hopf, expected, codim1.hopf.frequency):
        print(f"    Hopf at I = {found:.6f} (analytic {exact:.6f}, rel. error "
              f"{abs(found - exact) / exact:.1e}), frequency {w:.4f} rad/ms")  # fmt: skip
    cycle = np.isfinite(codim1.cycles.x_max[:, 0])
    on = codim1.cycles.p[cycle, 0]
    print(f"    limit cycle for I in [{on.min():.3f}, {on.max():.3f}], "
          f"v up to {codim1.cycles.x_max[cycle, 0].max():.3f}")  # fmt: skip

    n = 21 if small else 81
    codim2 = nt.analysis.Bifurcation(
        fhn, box, {"input": np.linspace(0.0, 2.0, n), "a": np.linspace(0.4, 1.0, n // 2 + 1)},
        n_starts=4,
    ).analyse()  # fmt: skip
    I2, a2 = codim2.hopf.p.T
    lines = np.stack([fhn_hopf_currents(a=a) for a in a2])
    err2 = np.min(np.abs(lines - I2[:, None]), axis=1).max()
    print(f"FitzHugh-Nagumo, codim 2 in (I, a): {len(I2)} Hopf points, largest distance to the "
          f"analytic Hopf lines {err2:.1e}; {len(codim2.saddle_nodes)} saddle-nodes (none "
          "exist for b < 1)")  # fmt: skip

    hr = nt.neurons.HindmarshRose(1)
    z_grid = np.linspace(2.0, 4.5, 101 if small else 501)
    fast_slow = nt.analysis.FastSlowBifurcation(
        hr, {"v": (-2.5, 2.5), "y": (-25.0, 2.0)}, {"z": z_grid}, fixed={"input": I_HR}, n_starts=8
    ).analyse(duration=1500.0 if small else 3000.0, transient=500.0, cycle_duration=400.0)
    knees = fast_slow.bifurcation.saddle_nodes
    knees_exact = np.array([I_HR - 5.0 / 27.0, I_HR + 1.0])
    print("Hindmarsh-Rose fast subsystem against z (I = 3):")
    for (z,), (v, _), exact in zip(knees.p, knees.x, knees_exact):
        print(f"    saddle-node knee at z = {z:.6f}, v = {v:+.6f} (analytic z = {exact:.6f})")
    for (z,), (v, _), w in zip(fast_slow.bifurcation.hopf.p, fast_slow.bifurcation.hopf.x,
                               fast_slow.bifurcation.hopf.frequency):  # fmt: skip
        print(f"    Hopf at z = {z:.6f}, v = {v:.6f}, frequency {w:.4f}")
    z_path = fast_slow.trajectory.x[0, :, -1]
    print(f"    the trajectory's z sweeps [{np.nanmin(z_path):.3f}, {np.nanmax(z_path):.3f}]")

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    nt.plot.bifurcation(codim1, axes[0])
    axes[0].set_title("FitzHugh-Nagumo, codim 1")
    nt.plot.bifurcation(codim2, axes[1])
    axes[1].set_title("FitzHugh-Nagumo, codim 2")
    nt.plot.fast_slow(fast_slow, axes[2])
    axes[2].set_title("Hindmarsh-Rose bursting, fast-slow (I = 3)")
    fig.tight_layout()
    fig.savefig(path / "bifurcation.png", dpi=120)
    plt.close(fig)
    return dict(
        hopf=hopf,
        hopf_expected=expected,
        hopf_frequency=codim1.hopf.frequency,
        cycle_range=(
            float(codim1.cycles.p[cycle, 0].min()),
            float(codim1.cycles.p[cycle, 0].max()),
        ),
        codim2_hopf=codim2.hopf.p,
        codim2_error=float(err2),
        codim2_saddle_nodes=len(codim2.saddle_nodes),
        knees=knees.p[:, 0],
        knee_v=knees.x[:, 0],
        knees_expected=knees_exact,
        fast_hopf=fast_slow.bifurcation.hopf.p[:, 0],
        z_range=(float(np.nanmin(z_path)), float(np.nanmax(z_path))),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="coarser parameter grids")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
