"""Analysis of neurotree models (phase plane, bifurcation, slow points, measures): in progress."""
