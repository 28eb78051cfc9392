"""Sampling defaults shared by the engine, the command line, the scene format and the studio.
Chosen for the bundled model (measured in docs/BENCHMARKS.md); a request can always override them."""
STEPS = 24
GUIDANCE = 5.0
# Extending a clip: the motion is in the held frames, and strong guidance replaces it with the
# prompt's typical motion, a jump at the seam. On 16 held-out slow movers the extend seam passed
# 44% / 56% / 62% of cases at guidance 5 / 2 / 1 with the bundled model and 50% / 88% / 100%
# with a stronger transformer (docs/BENCHMARKS.md, session 7).
EXTEND_GUIDANCE = 2.0
# Remixing a clip (video to video): "flowedit" moves the input along the difference between the
# model's velocity with the new prompt and with none (engine.sampler.edit); "sdedit" noises the
# input to the strength and samples. Measured on 16 world cases drawn apart from the verb
# benchmark's (docs/BENCHMARKS.md, session 15): the asked colour in and the old one out at strength
# 0.6 in 2 cases of 16 with sdedit, 5 with flowedit at guidance 8 or 12 (2 at guidance 5).
REMIX_METHOD = "flowedit"
REMIX_GUIDANCE = 8.0
