"""Neuron models. Spiking neurons return `(state, spike)`; continuous ones `(state, state)`."""

from ._alif import ALIF as ALIF, ALIFState as ALIFState
from ._cond_neuron import CondNeuron as CondNeuron, CondNeuronState as CondNeuronState
from ._expif import (
    AdExIF as AdExIF,
    AdExIFState as AdExIFState,
    ExpIF as ExpIF,
    ExpIFState as ExpIFState,
)
from ._fhn import FitzHughNagumo as FitzHughNagumo, FitzHughNagumoState as FitzHughNagumoState
from ._gif import GIF as GIF, GIFState as GIFState
from ._hh import HH as HH, HHState as HHState
from ._hindmarsh_rose import (
    HindmarshRose as HindmarshRose,
    HindmarshRoseState as HindmarshRoseState,
)
from ._izhikevich import Izhikevich as Izhikevich, IzhikevichState as IzhikevichState
from ._leaky import LeakyIntegrator as LeakyIntegrator, LeakyIntegratorState as LeakyIntegratorState
from ._lif import LIF as LIF, LIFState as LIFState
from ._morris_lecar import MorrisLecar as MorrisLecar, MorrisLecarState as MorrisLecarState
from ._quaif import QuaIF as QuaIF, QuaIFState as QuaIFState
from ._wilson_cowan import WilsonCowan as WilsonCowan, WilsonCowanState as WilsonCowanState
