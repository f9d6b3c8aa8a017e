"""Phase planes: FitzHugh-Nagumo on its limit cycle, and Wong & Wang's (2006) decision model.

FitzHugh-Nagumo at I = 0.5: one unstable focus inside a stable limit cycle. Wong-Wang at zero
coherence: with the stimulus on (mu0 = 30 Hz) the symmetric state is a saddle between two
decision attractors; without it (mu0 = 0) the spontaneous state is a third attractor.
Everything comes from the models' `vector_field` through `nt.analysis.PhasePlane`.

    python examples/phase_plane.py [--small] [--out examples/out]
"""

import argparse
import pathlib

import neurotree as nt


def main(small: bool = False, out: str = "examples/out") -> dict:
    resolution = 120 if small else 400
    fhn = nt.analysis.PhasePlane(
        nt.neurons.FitzHughNagumo(1), {"v": (-2.5, 2.5), "w": (-1.0, 2.5)}, fixed={"input": 0.5}
    )
    fhn_result = fhn.analyse(
        x0=[[-0.8, -0.1], [-2.2, 2.2], [2.2, -0.8]], duration=150.0,
        nullcline_resolution=resolution,
    )  # fmt: skip
    wong_wang = nt.zoo.WongWang(coherence=0.0, sigma=None)
    ww = {}
    for name, mu0 in (("stimulus", 30.0), ("no stimulus", 0.0)):
        plane = nt.analysis.PhasePlane(
            wong_wang, {"S1": (0.0, 0.8), "S2": (0.0, 0.8)}, fixed={"mu0": mu0}
        )
        starts = [[0.1, 0.12], [0.12, 0.1], [0.3, 0.8], [0.8, 0.3], [0.5, 0.42]]
        ww[name] = plane.analyse(x0=starts, duration=2000.0, nullcline_resolution=resolution)

    fp = fhn_result.fixed_points
    cycle = fhn_result.trajectories.x[0, len(fhn_result.trajectories.t) // 2 :]
    print(f"FitzHugh-Nagumo, I = 0.5: fixed point v = {fp.x[0, 0]:.4f}, w = {fp.x[0, 1]:.4f} "
          f"({fp.kind[0]}); limit cycle v in [{cycle[:, 0].min():.3f}, "
          f"{cycle[:, 0].max():.3f}]")  # fmt: skip
    for name, result in ww.items():
        print(f"Wong-Wang, c' = 0, {name}:")
        for x, kind in zip(result.fixed_points.x, result.fixed_points.kind):
            print(f"    S1 = {x[0]:.4f}, S2 = {x[1]:.4f}  {kind}")

    path = pathlib.Path(out)
    path.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    nt.plot.phase_plane(fhn_result, axes[0])
    axes[0].set_title("FitzHugh-Nagumo, I = 0.5")
    for ax, (name, result) in zip(axes[1:], ww.items()):
        nt.plot.phase_plane(result, ax)
        ax.set_title(f"Wong-Wang 2006, c' = 0, {name}")
    fig.tight_layout()
    fig.savefig(path / "phase_plane.png", dpi=120)
    plt.close(fig)
    return dict(
        fhn_fixed_point=fp.x[0],
        fhn_kind=fp.kind[0],
        fhn_cycle_v=(float(cycle[:, 0].min()), float(cycle[:, 0].max())),
        ww_stimulus=(ww["stimulus"].fixed_points.x, ww["stimulus"].fixed_points.kind),
        ww_no_stimulus=(ww["no stimulus"].fixed_points.x, ww["no stimulus"].fixed_points.kind),
        nullcline_segments=int(sum(len(s) for s in fhn_result.nullclines)),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="coarser nullcline grids")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
