"""Compile the C++ kernels at first use and register them with XLA's typed FFI.

The sources next to this file are compiled once with the system C++ compiler (`CXX`, else `c++`
or `g++` on PATH) into a cache folder (`NEUROTREE_CACHE`, else `~/.cache/neurotree/native`),
under a name keyed by a hash of the sources, flags, compiler version, jax version and CPU. The
library is written to a temporary file and renamed into place, so concurrent processes never
load a half-written file. `NEUROTREE_NATIVE=0` disables the backend. Nothing here runs at import
time or at `pip install`.
"""

import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import jax
import jaxlib

SOURCE_DIR = Path(__file__).parent
FLAGS = ("-O3", "-march=native", "-shared", "-fPIC", "-std=c++17", "-ffp-contract=off")
# XLA custom-call target name -> exported handler symbol.
TARGETS = {
    "neurotree_csr_matvec": "NeurotreeCsrMatvec",
    "neurotree_dense_matvec": "NeurotreeDenseMatvec",
    "neurotree_dense_outer": "NeurotreeDenseOuter",
    "neurotree_jitc_matvec": "NeurotreeJitcMatvec",
}


class Unavailable(RuntimeError):
    """The native backend cannot be used; the message says why."""


_lock = threading.Lock()
_state: dict = {}  # "lib" (the loaded library) or "error" (why it is unavailable)


def load() -> ctypes.CDLL:
    """Build (once per cache), load and register the kernels (once per process).

    Raises `Unavailable` with the reason when that is impossible."""
    with _lock:
        if not _state:
            try:
                _state["lib"] = _register(_library())
            except Unavailable as e:
                _state["error"] = str(e)
        if "error" in _state:
            raise Unavailable(_state["error"])
        return _state["lib"]


def available() -> bool:
    """Whether the native kernels can be used in this process (builds them if needed)."""
    try:
        load()
    except Unavailable:
        return False
    return True


def why_unavailable() -> str:
    """Why `available()` is False, or "" when it is True."""
    return "" if available() else _state["error"]


def _compiler() -> list[str]:
    if os.environ.get("CXX"):
        cmd = shlex.split(os.environ["CXX"])
        if not cmd or shutil.which(cmd[0]) is None:
            raise Unavailable(f"the C++ compiler CXX={os.environ['CXX']!r} was not found.")
        return cmd
    for name in ("c++", "g++"):
        if shutil.which(name):
            return [name]
    raise Unavailable("no C++ compiler: neither CXX is set nor c++ or g++ is on PATH.")


def _version(cxx: list[str]) -> str:
    try:
        out = subprocess.run([*cxx, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise Unavailable(f"the C++ compiler {shlex.join(cxx)!r} does not run: {e}") from e
    if out.returncode != 0:
        raise Unavailable(f"`{shlex.join(cxx)} --version` failed: {out.stderr.strip()[-500:]}")
    return out.stdout


def _cpu() -> str:
    """CPU model and feature flags (what -march=native compiles for)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.machine() + platform.processor()
    keep = [ln for ln in lines if ln.split(":")[0].strip() in ("model name", "flags")]
    return "\n".join(dict.fromkeys(keep)) or platform.machine()


def _cache_dir() -> Path:
    root = os.environ.get("NEUROTREE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "neurotree" / "native"


def _library() -> Path:
    if os.environ.get("NEUROTREE_NATIVE", "1").strip() == "0":
        raise Unavailable("disabled by NEUROTREE_NATIVE=0.")
    cxx = _compiler()
    sources = sorted(SOURCE_DIR.glob("*.cc"))
    headers = sorted(SOURCE_DIR.glob("*.h"))
    key = hashlib.sha256()
    for part in (
        *(p.read_bytes() for p in sources + headers),
        " ".join(FLAGS).encode(),
        _version(cxx).encode(),
        jax.__version__.encode(),
        jaxlib.__version__.encode(),
        _cpu().encode(),
    ):
        key.update(hashlib.sha256(part).digest())
    cache = _cache_dir()
    target = cache / f"neurotree_native_{key.hexdigest()[:20]}.so"
    if target.exists():
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=cache)
        os.close(fd)
    except OSError as e:
        raise Unavailable(f"cannot write the kernel cache {str(cache)!r}: {e}") from e
    cmd = [*cxx, *FLAGS, f"-I{jax.ffi.include_dir()}", *map(str, sources), "-o", tmp]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            raise Unavailable(
                f"compiling the kernels failed ({shlex.join(cmd)}):\n{out.stderr[-2000:]}"
            )
        os.replace(tmp, target)
    except OSError as e:
        raise Unavailable(f"compiling the kernels failed ({shlex.join(cmd)}): {e}") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _register(path: Path) -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise Unavailable(f"cannot load the compiled kernels {str(path)!r}: {e}") from e
    for name, symbol in TARGETS.items():
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
    return lib
