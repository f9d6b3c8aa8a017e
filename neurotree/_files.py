"""Writing files so that a reader never sees half of one."""

import os
import pathlib
import tempfile


def atomic_write(path: pathlib.Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file renamed into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
