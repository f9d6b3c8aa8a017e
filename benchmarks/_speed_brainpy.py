"""The COBA and COBAHH networks in BrainPy, timed (run by `speed.py`).

Runs inside the BrainPy virtual environment (benchmarks/.venv-brainpy), not with neurotree:

    python _speed_brainpy.py --model COBA --n 4000 --duration 1000 --repeats 3 --comm csr

prints one JSON object: setup time (building the network and its connectivity), compile time
(the first run's time less a run's), the times of `--repeats` runs, mean E and I rates (Hz) and
the process's peak RSS (MB).

BrainPy's 2.x API on CPU (`brainpy.math`), written as BrainPy's own COBA example
(`EICOBA_PostAlign`: `LifRef`, `ProjAlignPostMg2` with `Expon` and `COBA`, integrated with
`exp_auto`) and COBAHH example (`CondNeuGroup` of `INa_TM1991`, `IK_TM1991`, `IL`), with
neurotree's parameters and initial conditions (v ~ N(-55, 5^2) mV for COBA; Brian2's COBAHH
draws, gates at 0). Connectivity, p = 80 / N: `--comm csr` is event-driven CSR
(`bp.dnn.EventCSRLinear` over `bp.conn.FixedProb`, brainevent's CPU kernels; no
self-connections within E and within I, as `nt.conn.FixedProb`); `--comm jit` is just-in-time
connectivity (`bp.dnn.EventJitFPHomoLinear`, regenerated every step). Every run starts from a
fresh initial state; the runs after the first reuse the compiled program.
"""

import json
import resource
import statistics
import time

import brainpy as bp
import brainpy.math as bm
import jax
import numpy as np
from _speed_cli import child_parser  # benchmarks/_speed_cli.py, next to this file

AREA_NS = 1e-9 / (20000.0 * 1e-8) * 1e3  # 1 nS over the 20000 um^2 compartment, in mS/cm^2


def _comm(comm, n_pre, n_post, p, weight, same, seed):
    if comm == "csr":
        conn = bp.conn.FixedProb(p, include_self=not same, seed=seed, pre=n_pre, post=n_post)
        return bp.dnn.EventCSRLinear(conn, weight)
    return bp.dnn.EventJitFPHomoLinear(n_pre, n_post, p, weight, seed=seed)


class EINet(bp.DynamicalSystem):
    """E and I populations joined by the four projections E2E, E2I, I2E, I2I (p = 80 / N)."""

    def __init__(self, neuron, n, we, wi, comm, drive=None, seed=0):
        super().__init__()
        n_e = round(0.8 * n)
        self.drive = drive
        self.E, self.I = neuron(n_e), neuron(n - n_e)
        p = 80.0 / n
        for k, (name, pre, post, w, tau, e) in enumerate((
            ("E2E", self.E, self.E, we, 5.0, 0.0), ("E2I", self.E, self.I, we, 5.0, 0.0),
            ("I2E", self.I, self.E, wi, 10.0, -80.0), ("I2I", self.I, self.I, wi, 10.0, -80.0),
        )):  # fmt: skip
            proj = bp.dyn.ProjAlignPostMg2(
                pre=pre,
                delay=None,
                comm=_comm(comm, pre.num, post.num, p, w, pre is post, seed * 4 + k + 1),
                syn=bp.dyn.Expon.desc(post.varshape, tau=tau),
                out=bp.dyn.COBA.desc(E=e),
                post=post,
            )
            setattr(self, name, proj)

    def update(self):
        for proj in (self.E2E, self.E2I, self.I2E, self.I2I):
            proj()
        self.E(self.drive)
        self.I(self.drive)
        return self.E.spike.sum(), self.I.spike.sum()


def coba(n, comm):
    def lif(size):
        return bp.dyn.LifRef(size, V_rest=-60.0, V_reset=-60.0, V_th=-50.0, tau=20.0,
                             tau_ref=5.0, V_initializer=bp.init.Normal(-55.0, 5.0))  # fmt: skip

    return EINet(lif, n, 0.6, 6.7, comm, drive=20.0)


class HH(bp.dyn.CondNeuGroup):
    """Traub-Miles neuron of the COBAHH benchmark (per unit area: uF/cm^2, mS/cm^2)."""

    def __init__(self, size):
        super().__init__(size, C=1.0, V_th=-20.0)
        self.INa = bp.dyn.INa_TM1991(size, g_max=100.0, E=50.0, V_sh=-63.0)
        self.IK = bp.dyn.IK_TM1991(size, g_max=30.0, E=-90.0, V_sh=-63.0)
        self.IL = bp.dyn.IL(size, g_max=0.05, E=-60.0)


def cobahh(n, comm):
    return EINet(HH, n, 6.0 * AREA_NS, 67.0 * AREA_NS, comm)


def initialise(net, model):
    """A fresh random state: neurotree's (Brian2's) initial distributions."""
    net.reset()
    if model != "COBAHH":
        return
    for name in ("E", "I"):
        pop = getattr(net, name)
        pop.V.value = -65.0 + 5.0 * bm.random.randn(pop.num)
        for ch in (pop.INa, pop.IK):
            for gate in ("p", "q"):
                if hasattr(ch, gate):
                    getattr(ch, gate).value = bm.zeros(pop.num)
        for proj, mean, std in ((f"E2{name}", 40.0, 15.0), (f"I2{name}", 200.0, 120.0)):
            syn = getattr(net, proj).syn
            syn.g.value = (mean + std * bm.random.randn(pop.num)) * AREA_NS


def main():
    parser = child_parser(__doc__)
    parser.add_argument("--comm", choices=["csr", "jit"], default="csr")
    args = parser.parse_args()
    bm.set_platform("cpu")
    bm.set_dt(0.1)
    bm.random.seed(0)

    t0 = time.perf_counter()
    net = (coba if args.model == "COBA" else cobahh)(args.n, args.comm)
    t1 = time.perf_counter()
    indices = np.arange(round(args.duration / 0.1))
    run = bm.jit(lambda: bm.for_loop(net.step_run, indices))

    initialise(net, args.model)
    t2 = time.perf_counter()
    jax.block_until_ready(run())  # compiles, then runs once
    first = time.perf_counter() - t2
    walls, counts = [], None
    for _ in range(args.repeats):
        initialise(net, args.model)
        t = time.perf_counter()
        counts = jax.block_until_ready(run())
        walls.append(time.perf_counter() - t)
    seconds = args.duration / 1000.0
    print(json.dumps({
        "simulator": f"BrainPy {bp.__version__}", "variant": f"event {args.comm.upper()}",
        "model": args.model, "N": args.n, "setup": t1 - t0,
        "compile": max(first - statistics.median(walls), 0.0), "runs": walls,
        "rate_E": float(np.asarray(counts[0]).sum() / net.E.num / seconds),
        "rate_I": float(np.asarray(counts[1]).sum() / net.I.num / seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
