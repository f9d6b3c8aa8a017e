"""Ion channels composed into conductance-based neurons (`nt.neurons.CondNeuron`)."""
