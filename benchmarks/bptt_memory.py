"""BPTT memory with and without gradient checkpointing (`nt.simulate(checkpoint=k)`).

    python benchmarks/bptt_memory.py [--neurons 1000] [--batch 8] [--steps 100 400 1600 6400]

Compiles the gradient of a loss on a LIF population's run (input a function of time, one
scalar recorded per step, so the records are negligible) and prints XLA's own buffer
assignment for it: the temporary bytes of the compiled program (`memory_analysis()`), without
checkpointing and with segments of round(sqrt(n_steps)) steps, and one timed gradient of each.
"""

import argparse
import math
import time

import jax
import jax.numpy as jnp

import neurotree as nt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 400, 1600, 6400])
    args = parser.parse_args()
    lif = nt.neurons.LIF(args.neurons, tau=10.0, v_th=1.0, v_reset=0.0)

    def loss(w, n, checkpoint):
        def drive(t):
            return w * (1.5 + jnp.sin(t / 10.0))

        _, v = nt.simulate(
            lif, lif.init_state((args.batch,)), drive, dt=1.0, n_steps=n, checkpoint=checkpoint,
            monitor=lambda s, o: jnp.mean(s.v),
        )  # fmt: skip
        return jnp.mean(v**2)

    w = jnp.ones(args.neurons)
    print("| steps | checkpoint | temporaries (MiB) | gradient (s) |")
    print("| --- | --- | --- | --- |")
    for n in args.steps:
        for checkpoint in (None, round(math.sqrt(n))):
            grad = jax.jit(jax.grad(loss), static_argnums=(1, 2))
            compiled = grad.lower(w, n, checkpoint).compile()
            temp = compiled.memory_analysis().temp_size_in_bytes / 2**20
            compiled(w).block_until_ready()
            t0 = time.perf_counter()
            compiled(w).block_until_ready()
            elapsed = time.perf_counter() - t0
            print(f"| {n} | {checkpoint or '-'} | {temp:.2f} | {elapsed:.3f} |", flush=True)


if __name__ == "__main__":
    main()
