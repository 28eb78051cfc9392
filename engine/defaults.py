"""Sampling defaults shared by the engine, the command line, the scene format and the studio.
Chosen for the bundled model (measured in docs/BENCHMARKS.md); a request can always override them."""
import platform
from numbers import Integral
from pathlib import Path

from engine.errors import InputError

REPO = Path(__file__).resolve().parent.parent  # the checkout: assets/, docs/, tests/ beside engine/
ASSETS = REPO / "assets"
BUNDLED_MODEL = ASSETS / "models" / "tenku-world"  # the default model
# The shared real footage (clips/ and interp/: camera clips and frame triplets) that tests and benchmarks read:
# ../shared/data/real beside the checkout, else the main checkout's (a worktree that sits elsewhere on the machine).
REAL_FOOTAGE = (REPO.parent / "shared" / "data" / "real", Path("/work/shared/data/real"))
REAL_FOOTAGE_VARIABLE = "TENKU_REAL_DATA"  # where the command line and the tests take another folder from
STEPS = 24
GUIDANCE = 5.0
# How a guided step asks the model (engine.service.Engine.sampler): "auto" takes the model's guidance-distilled
# transformer where it has one marked as its default (one call a step instead of two: engine.training.distill);
# "distilled" asks for it by name. The bundled model ships none: its student was not within noise of the full
# sampler (docs/BENCHMARKS.md, session 22).
SAMPLER = "auto"
# Compute dtypes a model runs in (engine.families.pipeline.DTYPES maps them to torch's; the names live here so
# the command line's --help does not load torch)
DTYPE_NAMES = ("float32", "bfloat16", "float16")
SAMPLERS = ("auto", "full", "distilled")
# Extending a clip: the motion is in the held frames, and strong guidance replaces it with the
# prompt's typical motion, a jump at the seam. On 16 held-out slow movers the extend seam passed
# 44% / 56% / 62% of cases at guidance 5 / 2 / 1 with the bundled model and 50% / 88% / 100%
# with a stronger transformer (docs/BENCHMARKS.md, session 7).
EXTEND_GUIDANCE = 2.0
# Remixing a clip (video to video): "flowedit" moves the input along the difference between the
# model's velocity with the new prompt and with none (engine.sampling.sampler.edit); "sdedit" noises the
# input to the strength and samples. Measured on 16 world cases drawn apart from the verb
# benchmark's (docs/BENCHMARKS.md, session 15): the asked colour in and the old one out at strength
# 0.6 in 3 cases of 16 with sdedit at guidance 5, in 5 with flowedit at guidance 8 or 12.
REMIX_METHOD = "flowedit"
REMIX_METHODS = ("flowedit", "sdedit")
REMIX_GUIDANCE = 8.0
# Fill and bridge make frames between footage on both sides, which says what is there and how it
# moves. Given the prompt as written rather than as the prompt reader reads it (engine.world.reading:
# the plainest training wording, which the model follows harder), they keep to the footage better:
# bridge seams within 1.5x in 7 and 10 of 16 cases (verb benchmark; 16 cases drawn apart) against 2
# and 7 read; fills on track in 3 and 3 of 16 against 2 and 2 (docs/BENCHMARKS.md, session 15).
BETWEEN_LITERAL = True
# Seeds: whole numbers that every random generator used takes (numpy's are at most 32 bits), and that a
# project's database and a C2PA manifest's JSON store as they are.
MAX_SEED = 2 ** 32 - 1
# Prompts (and negative prompts): the longest reader of the families here, Wan's umT5, reads 512
# tokens, some 2,500 characters, and cuts the rest; every prompt is also signed into each file's
# provenance record (issue 34: a 100,000-character prompt made a manifest C2PA refuses to sign).
MAX_PROMPT_CHARS = 4000


def real_footage(*preferred) -> Path:
    """The real-footage folder: the first of `preferred` (folders a caller names, e.g. from REAL_FOOTAGE_VARIABLE;
    None is passed over) or REAL_FOOTAGE that exists, else REAL_FOOTAGE[0] for the caller's error to name."""
    for folder in (*preferred, *REAL_FOOTAGE):
        if folder and Path(folder).is_dir():
            return Path(folder)
    return REAL_FOOTAGE[0]


def check_remix_method(method: str) -> None:
    if method not in REMIX_METHODS:
        raise InputError(f"remix method {method!r} is unknown; allowed: {', '.join(REMIX_METHODS)}")


def check_seed(seed) -> None:
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")


def cpu_has_bf16() -> bool:
    """Whether this processor computes bfloat16 in hardware (AMX or AVX-512 BF16). Without it PyTorch
    emulates bf16 and autocast costs many times float32 (issue 30: 28x for a take on an AVX2 EPYC)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def processor() -> str:
    """The processor's model name and whether it computes bfloat16 ("Intel(R) Xeon(R) ... (bf16: emulated)"), as
    sidecars and benchmarks record it beside the dtype chosen for it."""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    except OSError:
        name = platform.processor() or platform.machine() or "unknown"
    return f"{name} (bf16: {'hardware' if cpu_has_bf16() else 'emulated'})"


def autocast_dtype(device: str = "cpu"):
    """The dtype training autocasts to: bfloat16 on GPUs and on CPUs that have it, else float32 (no autocast)."""
    import torch  # deferred: torch is heavy; this module imports without it

    if device.startswith("cuda") or cpu_has_bf16():
        return torch.bfloat16
    return torch.float32


def check_text(text, name: str = "prompt") -> None:
    """A prompt or negative prompt: text, UTF-8, no NUL or other control characters but line breaks and
    tabs, at most MAX_PROMPT_CHARS characters."""
    if text is None:
        return
    if not isinstance(text, str):
        raise InputError(f"the {name} must be text, got {type(text).__name__} {text!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: bytes that were not UTF-8 on the command line
        raise InputError(f"the {name} holds bytes that are not UTF-8 text; type it again, or set the "
                         "terminal (or file) to UTF-8") from None
    bad = next((c for c in text if (c < " " and c not in "\t\n\r") or c == "\x7f"), None)
    if bad is not None:
        what = "a NUL character" if bad == "\0" else f"the control character {bad!r}"
        raise InputError(f"the {name} holds {what} at position {text.index(bad)}; a {name} is plain text")
    if len(text) > MAX_PROMPT_CHARS:
        raise InputError(f"the {name} is {len(text):,} characters; at most {MAX_PROMPT_CHARS:,} (no model here reads "
                         "more than about 2,500, and the prompt is signed into every file's provenance)")
