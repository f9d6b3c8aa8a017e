"""The COBA, CUBA and COBAHH benchmark networks in Brian2 (run by `rates_vs_brian2.py`).

Runs inside the Brian2 virtual environment (benchmarks/.venv-brian2), not with neurotree:

    python _brian2_models.py --models COBA CUBA COBAHH --scale 1 --duration 1000 --seeds 0 1

prints one JSON list with, per model and seed, the mean E and I rates (Hz) and the wall time
of `run` (s). Parameters, equations and initial conditions follow the scripts the benchmark
papers ran: BrainPy's/Brian2's COBA benchmark script (method 'euler', v ~ N(-55, 5) mV),
Brian2's CUBA example (method 'exact') and Brian2's COBAHH example (method
'exponential_euler', threshold v > -20 mV with a 3 ms refractory period). One change from those
scripts, to match neurotree's `nt.conn.FixedProb`: the recurrent E->E and I->I connections
exclude self-connections (`condition="i != j"`); Brian2's `connect(p=...)` alone includes them.
The connection probability is 0.02 / scale for N = round(4000 scale) neurons, 80% E.
"""

import argparse
import json
import time

import brian2 as b2
from brian2 import ms, mV, nS, second, umetre


def _sizes(scale):
    n = round(4000 * scale)
    n_e = round(0.8 * n)
    return n, n_e, 0.02 / scale


def _connect(P, n_e, p, exc, inh, ns):
    """Four Synapses E->E, E->I, I->E, I->I; `exc`/`inh` are the on_pre statements."""
    Pe, Pi = P[:n_e], P[n_e:]
    synapses = []
    for pre, post, on_pre, same in (
        (Pe, Pe, exc, True), (Pe, Pi, exc, False), (Pi, Pe, inh, False), (Pi, Pi, inh, True),
    ):  # fmt: skip
        S = b2.Synapses(pre, post, on_pre=on_pre, namespace=ns)
        if same:
            S.connect(condition="i != j", p=p)
        else:
            S.connect(p=p)
        synapses.append(S)
    return synapses


def coba(scale, method):
    n, n_e, p = _sizes(scale)
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-60 * mV,
              Erev_exc=0 * mV, Erev_inh=-80 * mV, I=20 * mV)  # fmt: skip
    eqs = """
    dv/dt = (ge*(Erev_exc-v)+gi*(Erev_inh-v)-(v-El) + I)*(1./taum) : volt (unless refractory)
    dge/dt = -ge/taue : 1
    dgi/dt = -gi/taui : 1
    """
    P = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms,
                       method=method, namespace=ns)  # fmt: skip
    P.v = "(randn() * 5 - 55) * mV"
    P.ge, P.gi = 0, 0
    return P, _connect(P, n_e, p, "ge += 0.6", "gi += 6.7", ns), n_e


def cuba(scale, method):
    n, n_e, p = _sizes(scale)
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV,
              we=(60 * 0.27 / 10) * mV, wi=(-20 * 4.5 / 10) * mV)  # fmt: skip
    eqs = """
    dv/dt = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    P = b2.NeuronGroup(n, eqs, threshold="v>Vt", reset="v = Vr", refractory=5 * ms,
                       method=method, namespace=ns)  # fmt: skip
    P.v = "Vr + rand() * (Vt - Vr)"
    P.ge, P.gi = 0 * mV, 0 * mV
    return P, _connect(P, n_e, p, "ge += we", "gi += wi", ns), n_e


def cobahh(scale, method):
    n, n_e, p = _sizes(scale)
    area = 20000 * umetre**2
    per_area = b2.cm**-2 * area
    ns = dict(
        Cm=1 * b2.ufarad * per_area, gl=5e-5 * b2.siemens * per_area,
        g_na=100 * b2.msiemens * per_area, g_kd=30 * b2.msiemens * per_area,
        El=-60 * mV, EK=-90 * mV, ENa=50 * mV, VT=-63 * mV, taue=5 * ms, taui=10 * ms,
        Ee=0 * mV, Ei=-80 * mV, we=6 * nS, wi=67 * nS,
    )  # fmt: skip
    eqs = """
    dv/dt = (gl*(El-v)+ge*(Ee-v)+gi*(Ei-v)-
             g_na*(m*m*m)*h*(v-ENa)-
             g_kd*(n*n*n*n)*(v-EK))/Cm : volt
    dm/dt = alpha_m*(1-m)-beta_m*m : 1
    dn/dt = alpha_n*(1-n)-beta_n*n : 1
    dh/dt = alpha_h*(1-h)-beta_h*h : 1
    dge/dt = -ge*(1./taue) : siemens
    dgi/dt = -gi*(1./taui) : siemens
    alpha_m = 0.32*(mV**-1)*4*mV/exprel((13*mV-v+VT)/(4*mV))/ms : Hz
    beta_m = 0.28*(mV**-1)*5*mV/exprel((v-VT-40*mV)/(5*mV))/ms : Hz
    alpha_h = 0.128*exp((17*mV-v+VT)/(18*mV))/ms : Hz
    beta_h = 4./(1+exp((40*mV-v+VT)/(5*mV)))/ms : Hz
    alpha_n = 0.032*(mV**-1)*5*mV/exprel((15*mV-v+VT)/(5*mV))/ms : Hz
    beta_n = .5*exp((10*mV-v+VT)/(40*mV))/ms : Hz
    """
    P = b2.NeuronGroup(n, eqs, threshold="v>-20*mV", refractory=3 * ms,
                       method=method, namespace=ns)  # fmt: skip
    P.v = "El + (randn() * 5 - 5) * mV"
    P.ge = "(randn() * 1.5 + 4) * 10 * nS"
    P.gi = "(randn() * 12 + 20) * 10 * nS"
    return P, _connect(P, n_e, p, "ge += we", "gi += wi", ns), n_e


MODELS = {"COBA": coba, "CUBA": cuba, "COBAHH": cobahh}
METHODS = {"COBA": "euler", "CUBA": "exact", "COBAHH": "exponential_euler"}  # the scripts' own


def run(
    model: str, scale: float, duration: float, seed: int, dt: float = 0.1, method: str | None = None
) -> dict:
    b2.start_scope()
    b2.defaultclock.dt = dt * ms
    b2.seed(seed)
    method = method or METHODS[model]
    P, synapses, n_e = MODELS[model](scale, method)
    mon = b2.SpikeMonitor(P)
    net = b2.Network(P, *synapses, mon)
    t0 = time.perf_counter()
    net.run(duration * ms)
    wall = time.perf_counter() - t0
    counts = mon.count[:]
    seconds = duration * ms / second
    return {
        "model": model,
        "scale": scale,
        "seed": seed,
        "dt": dt,
        "method": method,
        "N": len(P),
        "rate_E": float(counts[:n_e].mean() / seconds),
        "rate_I": float(counts[n_e:].mean() / seconds),
        "synapses_per_neuron": float(sum(len(S) for S in synapses) / len(P)),
        "wall": wall,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=1000.0, help="ms")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--dt", type=float, default=0.1, help="ms")
    parser.add_argument("--method", default=None, help="integration method (default: the script's)")
    parser.add_argument("--target", default="cython", choices=["cython", "numpy"])
    args = parser.parse_args()
    b2.prefs.codegen.target = args.target
    b2.prefs.logging.console_log_level = "WARNING"
    results = [
        run(m, args.scale, args.duration, s, args.dt, args.method)
        for m in args.models
        for s in args.seeds
    ]
    print(json.dumps({"brian2": b2.__version__, "target": args.target, "runs": results}))
