"""COBAHH benchmark network (Brette et al. 2007, benchmark 3): raster and firing rates.

4000 Traub-Miles Hodgkin-Huxley neurons (80% E, 20% I) with exponential conductances and no
external drive sustain their own activity, started by random initial conductances, at about
40 Hz (Brian2 rk4 at dt 0.025 ms: 41 Hz E, 40 Hz I; Brian2's example, exponential Euler at dt
0.1 ms, fires 20% less; see benchmarks/README.md).

    python examples/cobahh.py [--small] [--out examples/out]
"""

import argparse
import importlib.util
import pathlib


def main(small: bool = False, out: str = "examples/out") -> dict:
    path = pathlib.Path(__file__).with_name("coba.py")
    spec = importlib.util.spec_from_file_location("coba_example", path)
    coba = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(coba)
    return coba.main(small=small, out=out, name="COBAHH")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="N = 400, 200 ms")
    parser.add_argument("--out", default="examples/out", help="folder for the figure")
    args = parser.parse_args()
    main(small=args.small, out=args.out)
