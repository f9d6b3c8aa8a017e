"""A sharded COBA run as 2 processes (jax.distributed, gloo CPU collectives, on localhost)
against the one-process unsharded run: spikes and final potentials bitwise equal.

This file run as a script is the worker, the same for every process:
`python tests/test_distributed.py PROCESS_ID NUM_PROCESSES PORT OUT`. Each process has 4 CPU
devices (`XLA_FLAGS=--xla_force_host_platform_device_count=4`, set by the test before jax is
imported), so the global mesh has 8; each process holds the shards of its own 4 devices, and
`ShardedNetwork.gather` (a `process_allgather`) gives every process the whole records, which
it writes to OUT/process_<id>.npz.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import equinox as eqx
import jax
import numpy as np

SCALE, N_STEPS, SEED = 0.25, 500, 1


def _worker(process_id: int, num_processes: int, port: int, out: pathlib.Path) -> None:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"localhost:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=60,
    )
    import neurotree as nt

    mesh = jax.make_mesh((jax.device_count(),), ("neurons",))
    model = nt.shard(nt.zoo.COBA(SCALE), mesh)
    state = model.init_state(key=jax.random.key(SEED))
    run = eqx.filter_jit(lambda m, s: nt.simulate(m, s, dt=0.1, n_steps=N_STEPS))
    state, records = run(model, state)
    spikes = model.gather(records)
    final = model.gather_state(state)
    # Eager simulate, in chunks: the records of every chunk stay sharded across both processes.
    _, eager = nt.simulate(
        model, model.init_state(key=jax.random.key(SEED)), dt=0.1, n_steps=N_STEPS,
        chunk_size=N_STEPS // 4,
    )  # fmt: skip
    eager = model.gather(eager)
    np.savez(
        out / f"process_{process_id}.npz",
        **{f"spike_{k}": v for k, v in spikes.items()},
        **{f"v_{k}": final.populations[k].v for k in spikes},
        **{f"eager_{k}": v for k, v in eager.items()},
    )
    meta = {
        "devices": jax.device_count(),
        "local_devices": jax.local_device_count(),
        "process_index": jax.process_index(),
        "records_fully_addressable": records["E"].is_fully_addressable,
        "local_shards": len(records["E"].addressable_shards),
        "spec": str(records["E"].sharding.spec),
    }
    (out / f"process_{process_id}.json").write_text(json.dumps(meta))
    jax.distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
    import neurotree as nt

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    port = _free_port()
    logs = [open(tmp_path / f"log_{i}.txt", "w+") for i in range(2)]
    procs = []
    try:
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, str(i), "2", str(port), str(tmp_path)],
                    env=env,
                    stdout=logs[i],
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            )
        codes = [p.wait(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    text = []
    for log in logs:
        log.seek(0)
        text.append(log.read()[-3000:])
        log.close()
    assert codes == [0, 0], "\n----\n".join(text)

    net = nt.zoo.COBA(SCALE)
    run = eqx.filter_jit(lambda m, s: nt.simulate(m, s, dt=0.1, n_steps=N_STEPS))
    state, records = run(net, net.init_state(key=jax.random.key(SEED)))
    assert np.asarray(records["E"]).sum() > 500
    for i in range(2):
        meta = json.loads((tmp_path / f"process_{i}.json").read_text())
        assert meta == {
            "devices": 8, "local_devices": 4, "process_index": i,
            "records_fully_addressable": False, "local_shards": 4, "spec": "P(None, 'neurons')",
        }  # fmt: skip
        with np.load(tmp_path / f"process_{i}.npz") as got:
            for k in "EI":
                np.testing.assert_array_equal(got[f"spike_{k}"], np.asarray(records[k]))
                np.testing.assert_array_equal(got[f"eager_{k}"], np.asarray(records[k]))
                np.testing.assert_array_equal(got[f"v_{k}"], np.asarray(state.populations[k].v))


if __name__ == "__main__":
    _worker(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), pathlib.Path(sys.argv[4]))
