"""Synapses: dynamics of the synaptic variable (`Synapse`), the current it drives (`Output`), and
plasticity (short-term `STP`, spike-timing-dependent `STDP`)."""

from ._alpha import Alpha as Alpha, AlphaState as AlphaState
from ._base import Output as Output, Synapse as Synapse
from ._dual_expon import DualExpon as DualExpon, DualExponState as DualExponState
from ._expon import Expon as Expon, ExponState as ExponState
from ._kinetic import AMPA as AMPA, GABAa as GABAa, KineticState as KineticState
from ._nmda import NMDA as NMDA, NMDAState as NMDAState
from ._outputs import COBA as COBA, CUBA as CUBA, MgBlock as MgBlock
from ._stdp import STDP as STDP, STDPState as STDPState
from ._stp import STP as STP, STPState as STPState
