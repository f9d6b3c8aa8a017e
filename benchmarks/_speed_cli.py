"""The command line every `_speed_*.py` child shares (stdlib only: it runs in each venv)."""

import argparse


def child_parser(doc: str) -> argparse.ArgumentParser:
    """--model, --n, --duration and --repeats; each child adds its own options."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--model", choices=["COBA", "COBAHH"], required=True)
    parser.add_argument("--n", type=int, default=4000, help="neurons")
    parser.add_argument("--duration", type=float, default=1000.0, help="ms")
    parser.add_argument("--repeats", type=int, default=3)
    return parser
