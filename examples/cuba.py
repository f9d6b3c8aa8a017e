"""CUBA benchmark network (Brette et al. 2007, benchmark 2): raster and firing rates.

4000 LIF neurons (80% E, 20% I) with exponential synaptic currents and a resting potential just
above threshold fire irregularly at about 6 Hz (Brian2: 5.8 Hz E, 5.7 Hz I; see
benchmarks/README.md).

    python examples/cuba.py [--small] [--out examples/out]
"""

import argparse
import importlib.util
import pathlib


def main(small: bool = False, out: str = "examples/out") -> dict:
    path = pathlib.Path(__file__).with_name("coba.py")
    spec = importlib.util.spec_from_file_location("coba_example", path)
    coba = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(coba)
    return coba.main(small=small, out=out, name="CUBA")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="N = 400, 200 ms")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
