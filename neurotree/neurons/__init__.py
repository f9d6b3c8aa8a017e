"""Neuron models. Spiking neurons return `(state, spike)`; continuous ones `(state, state)`."""

from ._lif import LIF as LIF, LIFState as LIFState
