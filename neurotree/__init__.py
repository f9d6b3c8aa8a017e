"""neurotree: a differentiable brain-dynamics simulator and model zoo on JAX."""

import importlib.util as _importlib_util
import pathlib as _pathlib
import sys as _sys


def _source_tree_kernels() -> None:
    # Installed (wheel or editable), `neurotree.kernels` is found as usual. In a bare source
    # checkout the folder sits beside this package, as `kernels/`; load it under the same name.
    if _importlib_util.find_spec("neurotree.kernels") is not None:
        return
    init = _pathlib.Path(__file__).resolve().parent.parent / "kernels" / "__init__.py"
    spec = _importlib_util.spec_from_file_location(
        "neurotree.kernels", init, submodule_search_locations=[str(init.parent)]
    )
    module = _importlib_util.module_from_spec(spec)
    _sys.modules["neurotree.kernels"] = module
    spec.loader.exec_module(module)


_source_tree_kernels()

from . import (  # noqa: E402
    analysis as analysis,
    channels as channels,
    comm as comm,
    conn as conn,
    inputs as inputs,
    integrators as integrators,
    kernels as kernels,
    neurons as neurons,
    plot as plot,
    surrogate as surrogate,
    synapses as synapses,
    training as training,
    zoo as zoo,
)
from ._core import DynamicalSystem as DynamicalSystem  # noqa: E402
from ._network import Network as Network, NetworkState as NetworkState  # noqa: E402
from ._projections import (  # noqa: E402
    AlignPost as AlignPost,
    AlignPre as AlignPre,
    ProjectionState as ProjectionState,
)
from ._records import iter_records as iter_records, load_records as load_records  # noqa: E402
from ._run import RunResult as RunResult, run as run  # noqa: E402
from ._shard import ShardedNetwork as ShardedNetwork, shard as shard  # noqa: E402
from ._simulate import simulate as simulate  # noqa: E402
from ._sweep import sweep as sweep  # noqa: E402

__version__ = "0.1.0"
