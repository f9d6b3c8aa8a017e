"""Records on disk: the shards and manifest that `nt.run` writes and `nt.load_records` reads.

A run folder holds plain files only (no pickle anywhere):

    manifest.json               the run's description and the list of its committed shards (JSON)
    records/<first step>.npz    one shard per chunk (NumPy .npz, uncompressed): array "i" is the
                                i-th leaf of the records, with a leading axis of the chunk's
                                records; <first step> is the absolute index of the chunk's first
                                step, 12 digits
    checkpoints/<step>.ckpt     the last two checkpoints (`neurotree.training` checkpoint files)

Every file is written to a temporary file in its folder, flushed to disk and renamed into place,
and a shard is listed in the manifest (with its SHA-256) only after it is on disk; a file in
records/ that the manifest does not list is not part of the run.
"""

import hashlib
import io
import json
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from ._files import atomic_write

MANIFEST = "manifest.json"
RECORDS = "records"
CHECKPOINTS = "checkpoints"
FORMAT = "neurotree-run"
VERSION = 1
_SHARD = re.compile(r"^\d{12}\.npz$")


def _encode_key(k) -> list:
    if isinstance(k, jax.tree_util.DictKey):
        return ["key", k.key]
    if isinstance(k, jax.tree_util.SequenceKey):
        return ["index", k.idx]
    if isinstance(k, jax.tree_util.GetAttrKey):
        return ["attr", k.name]
    if isinstance(k, jax.tree_util.FlattenedIndexKey):
        return ["index", k.key]
    raise ValueError(f"records: cannot store a PyTree with the key {k!r} ({type(k).__name__}).")


def leaf_specs(records: PyTree) -> list[dict]:
    """Per leaf of one chunk's (or one record's, `jax.eval_shape`) records: path, shape, dtype.

    `shape` is the shape of one record (without the leading time axis).
    """
    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(records)[0]:
        out.append(
            {
                "name": jax.tree_util.keystr(path),
                "path": [_encode_key(k) for k in path],
                "shape": list(leaf.shape[1:]),
                "dtype": np.dtype(leaf.dtype).name,
            }
        )
    return out


def read_manifest(folder: pathlib.Path, owner: str) -> dict:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{owner}({str(folder)!r}): cannot read {str(path)!r} ({type(e).__name__}: {e})."
        ) from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(
            f"{owner}({str(folder)!r}): {str(path)!r} is not a neurotree run manifest."
        )
    if manifest.get("version") != VERSION:
        raise ValueError(
            f"{owner}({str(folder)!r}): run format version {manifest.get('version')!r}; this "
            f"version of neurotree reads {VERSION}."
        )
    return manifest


def write_manifest(folder: pathlib.Path, manifest: dict) -> None:
    atomic_write(folder / MANIFEST, json.dumps(manifest, indent=1, allow_nan=False).encode())


def shard_name(first_step: int) -> str:
    return f"{first_step:012d}.npz"


def write_shard(folder: pathlib.Path, first_step: int, n_steps: int, leaves: list) -> dict:
    """Write one chunk's record leaves as a shard; return its manifest entry."""
    name = f"{RECORDS}/{shard_name(first_step)}"
    path = folder / name
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w+b") as f:
            # Straight into the file: no copy of the chunk in memory.
            np.savez(f, **{str(i): np.asarray(x) for i, x in enumerate(leaves)})
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return {"file": name, "first_step": first_step, "n_steps": n_steps, "sha256": digest}


def stray_files(folder: pathlib.Path, shards: list[dict]) -> list[pathlib.Path]:
    """Files in records/ that the manifest's `shards` do not list (left by an interrupted run)."""
    listed = {s["file"] for s in shards}
    records = folder / RECORDS
    if not records.is_dir():
        return []
    return [
        p
        for p in records.iterdir()
        if f"{RECORDS}/{p.name}" not in listed and (_SHARD.match(p.name) or p.name.endswith(".tmp"))
    ]


def _read_shard(folder: pathlib.Path, entry: dict, specs: list[dict], every: int) -> list:
    path = folder / entry["file"]
    where = f"load_records({str(folder)!r}): shard {str(path)!r}"
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{where} is listed in the manifest but cannot be read ({e}).") from e
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ValueError(
            f"{where} is truncated or corrupted (SHA-256 mismatch against the manifest); its "
            "records cannot be trusted. Resume the run from a checkpoint before this shard "
            "(delete the later checkpoints) to recompute them."
        )
    n = entry["n_steps"] // every
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        leaves = [arrays[str(i)] for i in range(len(specs))]
    for leaf, spec in zip(leaves, specs):
        dtype = np.dtype(jnp.dtype(spec["dtype"]))
        if leaf.dtype != dtype and leaf.dtype.itemsize == dtype.itemsize:
            leaf = leaf.view(dtype)  # e.g. bfloat16, which .npy stores as raw bytes
        if leaf.shape != (n, *spec["shape"]) or leaf.dtype != dtype:
            raise ValueError(
                f"{where}: leaf {spec['name']} has shape {leaf.shape} and dtype {leaf.dtype}; "
                f"the manifest says {(n, *spec['shape'])} and {dtype}."
            )
    return leaves


def _nest(specs: list[dict], leaves: list):
    """Records rebuilt from the stored paths: keys and attributes as dicts, indices as lists."""
    if not specs:
        return None
    if len(specs) == 1 and not specs[0]["path"]:
        return leaves[0]
    root: dict = {}
    for spec, leaf in zip(specs, leaves):
        node = root
        for kind, k in spec["path"][:-1]:
            node = node.setdefault((kind, k), {})
        node[tuple(spec["path"][-1])] = leaf

    def build(node):
        if not isinstance(node, dict):
            return node
        if all(kind == "index" for kind, _ in node):
            return [build(node[k]) for k in sorted(node, key=lambda k: k[1])]
        return {k: build(v) for (_, k), v in node.items()}

    return build(root)


def _unflatten(folder, specs: list[dict], leaves: list, like):
    if like is None:
        return _nest(specs, leaves)
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    paths = [[_encode_key(k) for k in p] for p, _ in flat]
    stored = [s["path"] for s in specs]
    if json.loads(json.dumps(paths)) != stored:
        raise ValueError(
            f"load_records({str(folder)!r}, like=...): `like` has the leaves "
            f"{[jax.tree_util.keystr(p) for p, _ in flat]}; the records have "
            f"{[s['name'] for s in specs]}. Pass a PyTree of the recorded structure (e.g. "
            "jax.eval_shape of the monitor) or like=None."
        )
    return jax.tree.unflatten(treedef, leaves)


def _open(path, owner: str) -> tuple[pathlib.Path, dict]:
    folder = pathlib.Path(path)
    if not (folder / MANIFEST).is_file():
        raise ValueError(
            f"{owner}({str(folder)!r}): not a run folder written by nt.run (no {MANIFEST})."
        )
    return folder, read_manifest(folder, owner)


def iter_records(path: str | os.PathLike, like: PyTree = None) -> Iterator[tuple[int, PyTree]]:
    """Yield `(first_record, records)` shard by shard from a run folder written by `nt.run`.

    `first_record` is the index of the shard's first record in the whole run. Memory holds one
    shard at a time, so a run of any length can be analysed in bounded memory. `like`: as in
    `load_records`.
    """
    folder, manifest = _open(path, "iter_records")
    specs, every = manifest["records"], manifest["every"]
    for entry in manifest["shards"]:
        leaves = _read_shard(folder, entry, specs, every)
        yield entry["first_step"] // every, _unflatten(folder, specs, leaves, like)


def load_records(
    path: str | os.PathLike,
    like: PyTree = None,
    *,
    start: int | None = None,
    stop: int | None = None,
) -> PyTree:
    """The records of a run folder written by `nt.run`, concatenated along the time axis.

    Returns records `start:stop` (record indices; default: all the records on disk): the same
    PyTree of arrays, with the same leading time axis, that `nt.simulate` would return for the
    steps run so far (NumPy arrays on the host). Only the shards that overlap `start:stop` are
    read; each is checked against the SHA-256 in the manifest, and a damaged shard is refused
    with `ValueError`.

    `like`: a PyTree with the structure of one record (e.g. `jax.eval_shape` of the monitor, or
    the records of a short `nt.simulate`) to rebuild exactly that structure; with `like=None`
    dict keys and attributes (e.g. of a state module) come back as dicts and sequences as lists.
    A run that is still going, or was interrupted, has the records of its committed chunks.
    """
    folder, manifest = _open(path, "load_records")
    specs, every = manifest["records"], manifest["every"]
    n_records = sum(e["n_steps"] for e in manifest["shards"]) // every
    for name, value in (("start", start), ("stop", stop)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0
        ):
            raise ValueError(f"load_records({name}={value!r}): expected None or an integer >= 0.")
    lo = 0 if start is None else int(start)
    hi = n_records if stop is None else int(stop)
    if not lo <= hi <= n_records:
        raise ValueError(
            f"load_records(start={start!r}, stop={stop!r}): the run folder holds {n_records} "
            "records; expected 0 <= start <= stop <= that."
        )
    parts = [[] for _ in specs]
    for entry in manifest["shards"]:
        first = entry["first_step"] // every
        last = first + entry["n_steps"] // every
        if last <= lo or first >= hi or first == last:
            continue
        leaves = _read_shard(folder, entry, specs, every)
        for part, leaf in zip(parts, leaves):
            part.append(leaf[max(lo - first, 0) : hi - first])
    leaves = [
        np.concatenate(p) if p else np.zeros((0, *s["shape"]), jnp.dtype(s["dtype"]))
        for p, s in zip(parts, specs)
    ]
    return _unflatten(folder, specs, leaves, like)
