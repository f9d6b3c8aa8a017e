"""What the training-speed children share: the command line, the task, the timing and the report.

Every child trains the same 3-layer SNN (inputs -> LIF with an exponential synaptic current ->
leaky-integrator readout) with Adam on the same random spike trains, and prints one JSON line.
Only the standard library and NumPy here: the children run in their own virtual environments.
"""

import argparse
import json
import resource
import statistics
import sys
import time

import numpy as np

N_IN, N_HIDDEN, N_OUT = 784, 100, 10
DT = 1.0  # ms
TAU_SYN, TAU_MEM, TAU_OUT = 5.0, 10.0, 20.0  # ms
V_TH = 1.0
LEARNING_RATE = 1e-3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--T", type=int, default=25, help="time steps per sample")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after the first")
    parser.add_argument("--rate", type=float, default=0.1, help="input spike probability per step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", default="", help="the child's own variant, if any")
    return parser.parse_args()


def task(args):
    """(T, batch, 784) float32 Bernoulli spikes and (batch,) int labels; the same everywhere."""
    rng = np.random.default_rng(args.seed)
    x = (rng.random((args.T, args.batch, N_IN)) < args.rate).astype(np.float32)
    y = rng.integers(0, N_OUT, args.batch)
    return x, y


def initial_weights(args):
    """W1 (784, 100), W2 (100, 10): PyTorch's nn.Linear default, U(-1/sqrt(fan_in), ...)."""
    rng = np.random.default_rng(args.seed + 1)
    w1 = rng.uniform(-1, 1, (N_IN, N_HIDDEN)) / np.sqrt(N_IN) * 4.0
    w2 = rng.uniform(-1, 1, (N_HIDDEN, N_OUT)) / np.sqrt(N_HIDDEN)
    return w1.astype(np.float32), w2.astype(np.float32)


def measure(step, args, *, library, version, discretisation, reset_gradient):
    """Time `step()` (one training step that blocks until done and returns the loss)."""
    t0 = time.perf_counter()
    first_loss = float(step())
    first = time.perf_counter() - t0
    for _ in range(args.warmup):
        step()
    times, loss = [], first_loss
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = float(step())
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    report = {
        "library": library,
        "version": version,
        "T": args.T,
        "batch": args.batch,
        "variant": args.variant,
        "step_ms": 1000 * median,
        "step_ms_min": 1000 * min(times),
        "first_step_s": first,
        "compile_s": max(0.0, first - median),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loss_first": first_loss,
        "loss_last": loss,
        "discretisation": discretisation,
        "reset_gradient": reset_gradient,
    }
    print(json.dumps(report), flush=True)
    sys.exit(0)
