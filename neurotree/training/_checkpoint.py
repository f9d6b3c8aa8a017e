"""Checkpoints: a model and its optimiser state in one file, checked on load.

File layout (no pickle anywhere):

    b"NEUROTREE-CKPT\\n"              magic
    uint64 little-endian              length of the header
    header                            UTF-8 JSON: format, step, metadata, payload sizes
    model payload                     eqx.tree_serialise_leaves(model)
    optimiser-state payload           eqx.tree_serialise_leaves(opt_state) (may be empty)
    32 bytes                          SHA-256 of everything above

The file is written to a temporary file in the same folder and renamed into place, so a
reader never sees a half-written checkpoint; a truncated or altered file fails the checksum
and is refused.
"""

import hashlib
import io
import json
import os
import pathlib
import struct
from typing import Any, NamedTuple

import equinox as eqx
from jaxtyping import PyTree

from .._files import atomic_write

_MAGIC = b"NEUROTREE-CKPT\n"
_FORMAT = 1
_DIGEST = 32


class Checkpoint(NamedTuple):
    """What `load_checkpoint` returns: `model, opt_state, step, metadata = load_checkpoint(...)`."""

    model: PyTree
    opt_state: PyTree | None
    step: int | None
    metadata: Any


def _serialise(tree) -> bytes:
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    return buffer.getvalue()


def save_checkpoint(
    path: str | os.PathLike,
    model: PyTree,
    opt_state: PyTree | None = None,
    *,
    step: int | None = None,
    metadata: Any = None,
) -> pathlib.Path:
    """Write `model` (and `opt_state`) to `path`, atomically; return the path.

    Array leaves are stored with `eqx.tree_serialise_leaves` (NumPy's `.npy` format, no pickle),
    so loading needs a `like` PyTree of the same structure (`load_checkpoint`). `step`: an
    optional non-negative integer (e.g. the epoch or update count). `metadata`: anything JSON
    can hold (dicts, lists, strings, finite numbers), e.g. hyperparameters or the history of
    `fit` converted with `.tolist()`. An existing file at `path` is replaced.
    """
    path = pathlib.Path(path)
    if not path.parent.is_dir():
        raise ValueError(
            f"save_checkpoint({str(path)!r}): the folder {str(path.parent)!r} does not exist."
        )
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise ValueError(f"save_checkpoint(step={step!r}): step must be None or an integer >= 0.")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"save_checkpoint: metadata must be JSON-serialisable (dicts, lists, strings, finite "
            f"numbers, None); {e}. Convert arrays with .tolist()."
        ) from e
    model_bytes = _serialise(model)
    opt_bytes = b"" if opt_state is None else _serialise(opt_state)
    header = json.dumps(
        {
            "format": _FORMAT,
            "step": step,
            "metadata": metadata,
            "model_bytes": len(model_bytes),
            "opt_state_bytes": None if opt_state is None else len(opt_bytes),
        },
        allow_nan=False,
    ).encode()
    body = _MAGIC + struct.pack("<Q", len(header)) + header + model_bytes + opt_bytes
    blob = body + hashlib.sha256(body).digest()

    atomic_write(path, blob)
    return path


def _refuse(path, why: str) -> ValueError:
    return ValueError(f"load_checkpoint({str(path)!r}): {why}")


def _deserialise(path, what: str, payload: bytes, like) -> PyTree:
    buffer = io.BytesIO(payload)
    try:
        tree = eqx.tree_deserialise_leaves(buffer, like)
    except Exception as e:
        raise _refuse(
            path,
            f"the stored {what} does not match the `like` given ({type(e).__name__}: {e}); pass "
            f"a {what} built with the same structure, shapes and dtypes as the saved one.",
        ) from e
    if buffer.tell() != len(payload):
        raise _refuse(
            path,
            f"the stored {what} holds more leaves than the `like` given ({len(payload)} bytes "
            f"stored, {buffer.tell()} read); pass a {what} of the saved structure.",
        )
    return tree


def load_checkpoint(
    path: str | os.PathLike, like_model: PyTree, like_opt_state: PyTree | None = None
) -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint`; return `Checkpoint(model, opt_state,
    step, metadata)`.

    `like_model` (and `like_opt_state`) give the structure to fill: e.g. a freshly built model
    and `optimizer.init(...)` of it (`eqx.filter_eval_shape` avoids allocating them). The
    optimiser state is read only when `like_opt_state` is given (else `opt_state` is None);
    asking for one from a checkpoint saved without raises. A file that is truncated, altered
    (checksum mismatch) or not a neurotree checkpoint is refused with `ValueError`, as is a
    `like` whose structure, shapes or dtypes differ from the saved ones.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise _refuse(path, "no such file.")
    blob = path.read_bytes()
    if not blob.startswith(_MAGIC):
        raise _refuse(path, "not a neurotree checkpoint (its first bytes are not the magic).")
    body, digest = blob[:-_DIGEST], blob[-_DIGEST:]
    if len(blob) < len(_MAGIC) + 8 + _DIGEST or hashlib.sha256(body).digest() != digest:
        raise _refuse(
            path,
            f"the file is truncated or corrupted (SHA-256 checksum mismatch over {len(blob)} "
            "bytes); it cannot be trusted. Load an intact copy.",
        )
    (n_header,) = struct.unpack("<Q", body[len(_MAGIC) : len(_MAGIC) + 8])
    start = len(_MAGIC) + 8
    header = json.loads(body[start : start + n_header].decode())
    if header.get("format") != _FORMAT:
        raise _refuse(
            path, f"checkpoint format {header.get('format')!r}; this version reads {_FORMAT}."
        )
    start += n_header
    n_model, n_opt = header["model_bytes"], header["opt_state_bytes"]
    if start + n_model + (n_opt or 0) != len(body):
        raise _refuse(path, "the payload sizes in the header do not match the file.")
    model = _deserialise(path, "model", body[start : start + n_model], like_model)
    opt_state = None
    if like_opt_state is not None:
        if n_opt is None:
            raise _refuse(
                path, "like_opt_state was given, but the checkpoint holds no optimiser state."
            )
        payload = body[start + n_model : start + n_model + n_opt]
        opt_state = _deserialise(path, "optimiser state", payload, like_opt_state)
    return Checkpoint(
        model=model, opt_state=opt_state, step=header["step"], metadata=header["metadata"]
    )
