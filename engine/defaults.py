"""Sampling defaults shared by the engine, the command line, the scene format and the studio.
Chosen for the bundled model (measured in docs/BENCHMARKS.md); a request can always override them."""
STEPS = 24
GUIDANCE = 5.0
# Extending a clip: the motion is in the held frames, and strong guidance replaces it with the
# prompt's typical motion, a jump at the seam. On 16 held-out slow movers the extend seam passed
# 44% / 56% / 62% of cases at guidance 5 / 2 / 1 with the bundled model and 50% / 88% / 100%
# with a stronger transformer (docs/BENCHMARKS.md, session 7).
EXTEND_GUIDANCE = 2.0
