"""Sampling defaults shared by the engine, the command line, the scene format and the studio.
Chosen for the bundled model (measured in docs/BENCHMARKS.md); a request can always override them."""
STEPS = 24
GUIDANCE = 5.0
