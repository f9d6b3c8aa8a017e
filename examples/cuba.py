"""CUBA benchmark network (Brette et al. 2007, benchmark 2): raster and firing rates.

4000 LIF neurons (80% E, 20% I) with exponential synaptic currents and a resting potential just
above threshold fire irregularly at about 6 Hz (Brian2: 5.8 Hz E, 5.7 Hz I; see
benchmarks/README.md).

    python examples/cuba.py [--small] [--out examples/out]
"""

from coba import cli, main as run_example  # examples/coba.py: the runner and the figure


def main(small: bool = False, out: str = "examples/out") -> dict:
    return run_example(small=small, out=out, name="CUBA")


if __name__ == "__main__":
    cli(main, __doc__)
