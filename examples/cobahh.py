"""COBAHH benchmark network (Brette et al. 2007, benchmark 3): raster and firing rates.

4000 Traub-Miles Hodgkin-Huxley neurons (80% E, 20% I) with exponential conductances and no
external drive sustain their own activity, started by random initial conductances, at about
40 Hz (Brian2 rk4 at dt 0.025 ms: 41 Hz E, 40 Hz I; Brian2's example, exponential Euler at dt
0.1 ms, fires 20% less; see benchmarks/README.md).

    python examples/cobahh.py [--small] [--out examples/out]
"""

from coba import cli, main as run_example  # examples/coba.py: the runner and the figure


def main(small: bool = False, out: str = "examples/out") -> dict:
    return run_example(small=small, out=out, name="COBAHH")


if __name__ == "__main__":
    cli(main, __doc__)
