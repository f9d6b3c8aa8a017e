"""Input currents and spike sources.

Current waveforms are functions of time to pass as `inputs` to `nt.simulate` (or their sampled
series); spike sources and the OU current are models that `nt.simulate` steps like any other.
"""

from ._ou import OUProcess as OUProcess, OUState as OUState
from ._poisson import PoissonInput as PoissonInput, PoissonState as PoissonState
from ._spike_times import SpikeTimes as SpikeTimes, SpikeTimesState as SpikeTimesState
from ._spike_train import SpikeTrain as SpikeTrain, SpikeTrainState as SpikeTrainState
from ._waveforms import (
    Constant as Constant,
    Ramp as Ramp,
    Section as Section,
    Sinusoidal as Sinusoidal,
    constant_input as constant_input,
    ramp_input as ramp_input,
    section_input as section_input,
    sinusoidal_input as sinusoidal_input,
)
