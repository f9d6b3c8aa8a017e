"""Which implementation runs an operator: the `backend=` argument and its "auto" choice.

"xla": the reference implementation in jax.numpy (every platform; the definition and the
fallback). "native": a C++ kernel on XLA's typed FFI, compiled at first use (CPU only).
"pallas": a Pallas kernel lowered through Triton (GPU only). "interpret": the Pallas kernel run
by the Pallas interpreter (any platform; slow, for testing). "auto": per platform at lowering,
"native" on CPU when it can be built (and the environment variable NEUROTREE_NATIVE is not
"0"), "pallas" on GPU, else "xla".
"""

import functools
import os

BACKENDS = ("auto", "xla", "native", "pallas", "interpret")
GPU_PLATFORMS = ("cuda", "rocm")


def check_backend(fn: str, backend) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"{fn}(backend={backend!r}): backend must be one of {BACKENDS}.")
    if backend == "native" and not native_available():
        raise ValueError(
            f"{fn}(backend='native'): the native CPU kernels are unavailable here "
            f"({why_native_unavailable()}); use backend='auto' or 'xla'."
        )
    return backend


@functools.cache
def native_available() -> bool:
    if os.environ.get("NEUROTREE_NATIVE", "1") == "0":
        return False
    try:
        from . import _native
    except ImportError:
        return False
    return _native.available()


def why_native_unavailable() -> str:
    if os.environ.get("NEUROTREE_NATIVE", "1") == "0":
        return "switched off by NEUROTREE_NATIVE=0"
    try:
        from . import _native
    except ImportError as e:
        return f"cannot import them: {e}"
    return _native.why_unavailable()


def resolve(fn: str, backend: str, platform: str) -> str:
    """The implementation that runs `backend` on `platform` ("cpu", "cuda", ...)."""
    if backend == "auto":
        if platform == "cpu":
            return "native" if native_available() else "xla"
        return "pallas" if platform in GPU_PLATFORMS else "xla"
    if backend == "native" and platform != "cpu":
        raise ValueError(f"{fn}(backend='native'): the native kernels run on CPU, not {platform}.")
    if backend == "pallas" and platform not in GPU_PLATFORMS:
        raise ValueError(
            f"{fn}(backend='pallas'): Pallas kernels lower through Triton for GPUs, not "
            f"{platform}; use backend='interpret' to run them here."
        )
    return backend


def raw_kernel(impl: str, name: str):
    """The raw kernel `name` of the "native", "pallas" or "interpret" implementation."""
    if impl == "native":
        from . import _native

        return getattr(_native, name)
    from . import _pallas

    return functools.partial(getattr(_pallas, name), interpret=impl == "interpret")
