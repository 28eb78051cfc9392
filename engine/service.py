"""The engine service: one object per process that loads a model lazily and runs requests.

`Engine.generate(request, callback)` is the one entry point behind every verb
(the studio, the command line and `engine.verbs` all call it). Clips longer than
the model's window are made by sliding windows: each new window holds the
frames of its neighbour that are already made clean (prefix conditioning, which
the model was trained for). Windows run forward from the start, or backward
from the end when only the end of the clip is known (extend --backward). A take
(no footage held: text, or a still to animate) also holds its anchor, its first
frame, in the oldest overlap frame of every later window, against drift
(`hold_anchor`; engine.longtake streams the same frames to disk).

Loops (`GenerateRequest(loop=True)`): the clip is made as usual, then one more
window is rendered across the wrap-around, on frames taken modulo the loop's
period: it holds the frames just before the end and just after the start clean
and regenerates those in between, so the last frame flows into the first exactly
as any frame flows into the next (the wrap-around step is an ordinary step inside
one window). Denoising the whole loop with the clip rotated in time by half its
length on alternate steps was tried and measured worse on the bundled model
(wrap step within 1.5x the median in 1 of 7 tracked cases, against 7 of 7).

Time: the model renders at BASE_FPS; `retime` (engine.video.retime) delivers any other rate by
interpolating between the model's frames (engine.video.interpolate's optical flow;
a linear blend when that module is missing).
"""
from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import torch

from engine import defaults
from engine.errors import InputError
from engine.families import family_of, load_family
from engine.families.pipeline import BUNDLED_MODEL, DTYPES, WorldPipeline
from engine.layout import Layout
from engine.layout.planner import plan
from engine.layout.raster import cover, layout_arrays, null_arrays, stack
from engine.layout.track import looping
from engine.provenance.record import Generation
from engine.request import (  # noqa: F401 (re-exported: the service is where callers find what it takes)
    ASPECTS,
    BASE_FPS,
    MAX_SECONDS,
    MAX_SIDE,
    MIN_LOOP_SECONDS,
    OVERLAP_FRAMES,
    WINDOW_FRAMES,
    GenerateRequest,
    ProgressFn,
    Result,
    describe_condition,
    frame_record,
    record_ranges,
    record_source,
)
from engine.sampling.compiled import Compiled
from engine.sampling.compiled import cache_dir as compiled_cache_dir
from engine.sampling.conditioning import (
    ClipCondition,
    ImageCondition,
    MaskCondition,
    WindowKnowledge,
    build_latent_conditions,
    fit_frames,
    fit_mask,
    still_frames,
)
from engine.sampling.sampler import Cancelled, StepInfo, edit, sample
from engine.sampling.threads import ThreadPolicy
from engine.video.retime import retime, retime_loop
from engine.world.captioner import unseen_words


class Engine:
    """Loads a model folder once (lazily) and serves requests, one at a time."""

    local = True  # renders in this process (studio.farm's engine does not): long takes may stream to its disk

    def __init__(self, model_path: str | Path = BUNDLED_MODEL, device: str = "cpu", dtype: str = "auto",
                 offload: bool = False, vae_tiling: bool = False, compile: bool = False,
                 threads: int | str | None = None, sampler: str = "auto"):
        """compile: run the bundled family's transformer through torch.compile (engine.sampling.compiled;
        graphs cached on disk, the first render of each shape compiles). threads: the CPU team of the
        bundled family's renders: a count, "auto" (the cores other programs leave free, re-checked between
        steps: engine.sampling.threads; the studio's choice) or None (torch's own setting, untouched).
        sampler: how a guided step asks the model: "full" (twice: with and without the prompt), "distilled"
        (once, the model's guidance-distilled transformer: engine.training.distill) or "auto" (distilled where
        the model has one marked as its default and the guidance is in its range, else full)."""
        if sampler not in defaults.SAMPLERS:
            raise InputError(f"unknown sampler {sampler!r}; allowed: {', '.join(defaults.SAMPLERS)}")
        self.offload, self.vae_tiling, self.compile, self.sampler_choice = offload, vae_tiling, compile, sampler
        if dtype == "auto":  # bfloat16 only where it is computed in hardware: emulated, it costs 28x (issue 30)
            dtype = "bfloat16" if device != "cpu" or defaults.cpu_has_bf16() else "float32"
        if dtype not in DTYPES:
            raise InputError(f"unknown dtype {dtype!r}; allowed: auto, {', '.join(DTYPES)}")
        self.model_path, self.device, self.dtype = Path(model_path), device, dtype
        self._pipe: WorldPipeline | None = None
        self._family: str | None = None
        self._rich = False  # a world model trained on rich captions (set with _family)
        self._read: dict = {}  # prompt -> its reading (engine.world.reading.Reading), most recent last
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.threads = ThreadPolicy(threads)

    @property
    def pipe(self) -> WorldPipeline:
        """The model, loaded on first use: the bundled world model, or a family adapter for an
        open checkpoint (engine.families: LTX-Video, Wan) that renders requests itself."""
        with self._load_lock:  # the studio's handlers and its render queue may ask at once: load once
            if self._pipe is None:
                pipe = load_family(self.model_path, self.device, DTYPES[self.dtype], offload=self.offload,
                                   vae_tiling=self.vae_tiling)
                if self.compile and not pipe.renders_itself:  # LTX and Wan run diffusers' own pipelines
                    pipe.transformer = Compiled(pipe.transformer)
                    if getattr(pipe, "guided_transformer", None) is not None:
                        pipe.guided_transformer = Compiled(pipe.guided_transformer)
                self._pipe = pipe
        return self._pipe

    def warm_up(self, aspects=("16:9",), seconds: float = 2.0, log=lambda line: None) -> float:
        """Compile (or load from the disk cache) the transformer's graphs for full windows of the given
        aspects by rendering one step of each, so no user's render waits on it unsaid; the seconds it took."""
        t0 = time.perf_counter()
        if self.compile:
            for aspect in aspects:
                log(f"compiling the model for {aspect} takes (once; cached in {compiled_cache_dir()})...")
                self.generate(GenerateRequest(prompt="a red ball", seconds=seconds, aspect=aspect, steps=1))
        return time.perf_counter() - t0

    @property
    def compiled(self) -> bool:
        """Whether renders run through torch.compile (asked for, and not fallen back to the plain module)."""
        t = self.pipe.transformer if self.compile else None
        return t is not None and getattr(t, "failed", True) is None

    @property
    def model_name(self) -> str:
        """The model folder's name, as records and the studio show it."""
        return self.pipe.name

    def preview(self, denoised) -> np.ndarray:
        """uint8 frames of a sampling step's clean estimate (StepInfo.denoised) for any family: the studio's live
        preview, and what a stopped take keeps."""
        return self.pipe.preview(denoised)

    @property
    def take_fps(self) -> float:
        """The rate the studio renders takes at: the bundled model's base rate (8 fps, the timeline
        interpolates on delivery), a real checkpoint's own rate (engine.families)."""
        return float(self.pipe.take_fps)

    @property
    def temporal_ratio(self) -> int:
        """Frames per latent frame after the first: a clip the model makes has 1 + r*k frames."""
        return self.pipe.temporal_ratio

    @property
    def time_patch(self) -> int:
        """Latent frames per transformer token (engine.sampling.conditioning.still_frames)."""
        return self.pipe.time_patch

    def frames_for(self, seconds: float) -> int:
        """Smallest 1 + r*k frame count at the base rate that lasts `seconds` (r: temporal_ratio)."""
        need, r = max(1, math.ceil(seconds * BASE_FPS - 1e-6)), self.temporal_ratio
        return 1 + r * max(1, math.ceil((need - 1) / r))

    def base_frames(self, req: GenerateRequest) -> int:
        """Frames at the base rate (1 + r*k) covering what is delivered (for a loop: one period)."""
        if req.loop:
            return self.frames_for(_loop_period(req) / BASE_FPS)
        span = (req.delivered() - 1) / req.fps  # from the first delivered frame to the last
        return self.frames_for(span + 1 / BASE_FPS)

    def window_count(self, req: GenerateRequest) -> int:
        """Windows a request renders in (a loop adds one across its wrap-around)."""
        n = self.base_frames(req)
        return len(_windows(n, self.temporal_ratio)) + (1 if req.loop else 0)

    @property
    def family(self) -> str:
        """The model folder's family (engine.families: "world", "ltx", "wan"), read from its
        model_index.json without loading any weights. A "world" model knows only the procedural world."""
        if self._family is None:  # read once: the storyboard asks for every shot
            self._family = family_of(self.model_path)  # checks model_index.json is a JSON object
            if self._family == "world":  # its recipe says whether it read the rich captions
                training = json.loads((self.model_path / "model_index.json").read_text()).get("training")
                recipe = training.get("recipe") if isinstance(training, dict) else None
                self._rich = isinstance(recipe, dict) and bool(recipe.get("data_rich"))
        return self._family

    def unseen_words(self, prompt: str) -> list[str]:
        """Words of `prompt` the model was never trained on, for a model trained on the world's
        captions (the bundled one); [] for other families, whose vocabulary is open."""
        if self.family != "world":
            return []
        return unseen_words(prompt, rich=self._rich)

    def model_prompt(self, prompt: str, literal: bool = False) -> str:
        """The prompt the model is given: for a model with a prompt reader (engine.world.reading), the
        prompt as the reader reads it, in the model's training wording, when it finds every object's
        colour, noun and motion (engine.world.reading.Reading.usable); else the prompt as written."""
        if literal:
            return prompt
        reading = self.reading(prompt)
        return reading.caption() if reading is not None and reading.usable() else prompt

    def reading(self, prompt: str):
        """The prompt reader's reading of `prompt` (engine.world.reading.Reading), None without a reader."""
        if not prompt or not prompt.strip() or not (self.model_path / "reader" / "config.json").exists():
            return None
        reader = self.pipe.reader
        if reader is None:
            return None
        if prompt not in self._read:
            self._read[prompt] = reader.read(prompt)
            if len(self._read) > 256:
                self._read.pop(next(iter(self._read)))
        return self._read[prompt]

    @property
    def takes_layout(self) -> bool:
        """Whether the model renders layouts (the bundled world model trained with a layout input)."""
        return self.pipe.takes_layout

    def layout(self, req: GenerateRequest):
        """The layout a request renders (engine.layout.Layout), or None for the text-only path: the
        request's own layout, else a plan from the prompt's reading when `req.plan` asks (None: for
        text-to-video on a model with a layout input). InputError for a layout the model cannot take."""
        given = req.layout
        if given is not None and not isinstance(given, Layout):
            given = Layout.from_dict(given)
        if given is not None or req.plan:  # asked for a layout (engine.generate checks before any work)
            if not self.takes_layout:
                raise InputError(f"{self.pipe.name} has no layout input ({self.pipe.family} "
                                 "models render from the prompt alone); leave out --layout and --plan-only")
        if given is not None:
            return given
        wanted = req.plan if req.plan is not None else (
            self.takes_layout and not req.conditions and req.init_video is None)
        planned = self.plan(req) if wanted else None
        if planned is not None and req.loop:  # a loop's objects come back to where they start (one period)
            planned = looping(planned, _loop_period(req) / BASE_FPS)
        return planned

    def plan(self, req: GenerateRequest):
        """The planner's layout for a request's prompt (engine.layout.planner), whatever the model renders;
        None when the prompt names no object (InputError when the request asks for a plan: `req.plan`)."""
        reading = self.reading(req.prompt)
        if reading is None or not reading.objects:
            if req.plan:
                raise InputError("the planner found no object in the prompt (a colour and a shape, e.g. 'a red ball "
                                 "rolls right'); write one, or give a layout with --layout")
            return None  # nothing to place: the text-only path
        w, h = req.canvas()
        return plan(reading, req.seed, (self.base_frames(req) - 1) / BASE_FPS, w, h)

    @staticmethod
    def remix_method(req: GenerateRequest) -> str | None:
        """How a remix is made: the request's method, but sampling (SDEdit) where the request also
        holds conditions or loops (flowedit edits a whole clip, nothing held) and at strength 1 (a new
        take from the prompt alone, whichever the method); None when not a remix."""
        if req.init_video is None:
            return None
        return req.remix_method if not req.conditions and not req.loop and req.strength < 1.0 else "sdedit"

    def sampler(self, req: GenerateRequest) -> str:
        """The sampler a request is rendered with: "distilled" (one call a guided step) or "full". A flowedit
        remix and guidance at or below 1 always take the full one; "distilled" asked of a model without one, or
        beyond the guidance it was trained for, is an error that says so."""
        guided = getattr(self.pipe, "guided_transformer", None)
        top = getattr(self.pipe, "guided_max", 1.0)
        if self.sampler_choice == "full" or req.guidance <= 1.0 or self.remix_method(req) == "flowedit":
            return "full"
        if self.sampler_choice == "distilled" and guided is None:
            raise InputError(f"the model {self.pipe.name} has no distilled sampler; use the sampler 'full' or 'auto'")
        if req.guidance > top:
            if self.sampler_choice == "distilled":
                raise InputError(f"the distilled sampler takes guidance up to {top:g}, got {req.guidance:g}; lower "
                                 "the guidance or use the sampler 'full'")
            return "full"
        if self.sampler_choice == "auto" and not getattr(self.pipe, "guided_default", False):
            return "full"  # a draft sampler (its model_index.json says it is not the default): asked for by name
        return "distilled" if guided is not None else "full"

    def settings(self, req: GenerateRequest) -> dict:
        d = {f.name: getattr(req, f.name) for f in dataclasses.fields(req)
             if f.name not in ("conditions", "init_video", "layout")}
        w, h = req.canvas()
        d.update(read_as=self.model_prompt(req.prompt, req.literal))
        d.update(width=w, height=h, base_fps=BASE_FPS, model=self.pipe.name, dtype=self.dtype,
                 device=self.device, processor=defaults.processor() if self.device == "cpu" else self.device,
                 compiled=self.compiled,
                 conditions=[describe_condition(c) for c in req.conditions],
                 remix=req.init_video is not None, remix_method=self.remix_method(req),
                 conditioning="native" if self.pipe.per_token_timesteps else "replacement")
        if not self.pipe.renders_itself:
            d.update(sampler=self.sampler(req))
        return d

    def generation(self, req: GenerateRequest) -> Generation:
        """What the provenance record says the model was asked for."""
        s = {"steps": req.steps, "guidance": req.guidance, "negative": req.negative}
        if req.churn:
            s["churn"] = req.churn
        if req.init_video is not None:
            s["strength"] = req.strength
            s["remix_method"] = self.remix_method(req)
        read_as = self.model_prompt(req.prompt, req.literal)
        if read_as != req.prompt:
            s["read_as"] = read_as
        return Generation(self.pipe.name, req.prompt, req.seed, s)

    def generate(self, req: GenerateRequest, progress: ProgressFn | None = None, anchor: bool = True) -> Result:
        """anchor: a take longer than one window holds its first frame in every later window (see the
        module's docstring; requests that hold footage, loops and remixes never do)."""
        with self._lock:
            if req.layout is not None or req.plan:
                self.layout(req)  # a model without a layout input refuses here rather than ignore the layout
            if self.pipe.renders_itself:  # LTX, Wan (engine.families)
                if self.sampler_choice == "distilled":  # they sample with their own pipelines' loops
                    raise InputError(f"the model {self.pipe.name} has no distilled sampler; use the sampler 'full' "
                                     "or 'auto'")
                return self.pipe.generate(req, progress)
            return self._generate(req, progress, anchor)

    def _generate(self, req: GenerateRequest, progress: ProgressFn | None, anchor: bool = True) -> Result:
        t0 = time.time()
        job = self.prepare(req)  # 1-3: inputs checked, prompt encoded, windows planned
        known = _knowledge(req, job.n, job.width, job.height, job.r, job.time_patch)
        out = np.zeros((job.n, job.height, job.width, 3), np.uint8)
        done = np.zeros(job.n, bool)
        anchor = anchor and takes_anchor(req)

        def knows(wi, idx, hold):  # 4. the request's conditions on the window plus the frames already made
            win = known.take(idx)
            win.hold(out[idx], done[idx] if hold is None else hold)
            return win, out[idx]

        cancelled = False
        for w in self.windows(job, knows, torch.Generator().manual_seed(req.seed), progress, anchor):
            cancelled = w.cancelled
            if w.frames is not None:
                out[w.idx], done[w.idx] = w.frames, True
        # 8. Retime to the delivery rate
        model_kind = "inpainted" if known.known_pixels is not None else "generated"
        kinds = ["camera" if k else model_kind for k in known.exact]
        if req.loop and not cancelled:  # one period; in-betweens after the last frame lead into the first
            P = _loop_period(req)
            base, kinds = out[:P], kinds[:P] + kinds[:1]
            frames, pos = retime_loop(base, BASE_FPS, req.fps)
        else:
            made = np.flatnonzero(done)
            base = out[made[0]: made[-1] + 1] if len(made) else out[:0]
            kinds = kinds[made[0]: made[-1] + 1] if len(made) else []
            frames, pos = retime(base, BASE_FPS, req.fps, count=req.delivered())
        record = frame_record(pos, kinds, self.generation(req), req.fps, source=record_source(req))
        settings = {**self.settings(req), "anchor": anchor, **job.layout_settings()}
        return Result(frames, req.fps, base, settings, record_ranges(record), cancelled, time.time() - t0, record)

    def prepare(self, req: GenerateRequest) -> "Job":
        """Everything a render needs before its first window: checked inputs, the encoded
        prompt, the windows (engine.longtake renders the same plan, streaming)."""
        # 1. Check inputs
        req.validate()
        pipe = self.pipe
        self.threads.begin()
        width, height = req.canvas()
        n = self.base_frames(req)
        r = pipe.temporal_ratio
        # 2. Encode prompt (no prompt: guidance has nothing to steer by, so it is skipped)
        tokens, mask, pooled = pipe.encode_prompt([self.model_prompt(req.prompt, req.literal), req.negative])
        text, uncond = (tokens[:1], mask[:1], pooled[:1]), (tokens[1:], mask[1:], pooled[1:])
        guidance = req.guidance if req.prompt.strip() else 1.0
        # 3. Windows over the clip (then, for a loop, one across the wrap-around)
        pt = self.time_patch
        backward = _only_end_known(_knowledge(req, n, width, height, r, pt), n, r) if req.conditions else False
        windows = [(np.arange(a, b), None) for a, b in _windows(n, r, backward=backward)]
        if req.loop:
            windows.append(_seam_window(_loop_period(req), r))
        init = None if req.init_video is None else _pad_frames(fit_frames(req.init_video, width, height), n)
        replacement = not pipe.per_token_timesteps
        layout = self.layout(req)
        if layout is not None:  # the layout guides as the prompt does, with or without a prompt
            guidance = req.guidance
        guided = pipe.guided_fn if self.sampler(req) == "distilled" else None
        return Job(req, pipe, width, height, n, r, pt, text, uncond, guidance, windows, init, replacement,
                   self.remix_method(req) == "flowedit", layout, guided)

    def windows(self, job: "Job", knows, generator: torch.Generator, progress: ProgressFn | None, anchor: bool,
                start: int = 0, first: np.ndarray | None = None):
        """The one window loop behind short takes, long takes (engine.longtake) and scenes: renders
        `job.windows` from `start` in order and yields a `Window` for each, stopping after a stopped one.

        knows(wi, idx, hold) -> (WindowKnowledge, held): what the window knows (the request's conditions
        and the frames its caller already has) and those frames, aligned with `idx`. A take that holds its
        anchor (`anchor`; `first`: the anchor of windows rendered before `start`) holds its first frame in
        place of the oldest held frame of each later window; that slot keeps the frame made before."""
        for wi in range(start, len(job.windows)):
            idx, hold = job.windows[wi]
            win, held = knows(wi, idx, hold)
            slot = hold_anchor(win, first)
            frames, cancelled = self.render_window(job, wi, idx, win, generator, progress)
            if frames is not None:
                if anchor and first is None:
                    first = frames[0].copy()
                if slot is not None:  # the anchor only guided this window
                    frames[slot] = held[slot]
            yield Window(wi, idx, frames, cancelled, first)
            if cancelled:
                return

    def render_window(self, job: "Job", wi: int, idx: np.ndarray, win: WindowKnowledge,
                      generator: torch.Generator, progress: ProgressFn | None):
        """Denoise one window given what it knows; returns (frames, cancelled). Frames is None
        when the render was stopped before this window's first step finished."""
        pipe, req = job.pipe, job.req
        if win.known_frames.all() and win.exact.all():
            return win.frames, False
        # 5. Prepare latents: noise drawn window by window from one seeded generator
        noise = torch.randn((1, *pipe.latent_shape(len(idx), job.width, job.height)), generator=generator)
        cond = start = None
        if win.any():
            cond = build_latent_conditions(pipe.encode_video(win.filled()), win, job.r, pipe.spatial_ratio,
                                           tuple(pipe.transformer.config.patch_size))
        if job.init is not None:
            start = pipe.encode_video(job.init[idx])

        def on_step(info: StepInfo):
            self.threads.adjust()  # a program that started or stopped beside the render changes its team
            if progress is not None:
                n = len(job.windows)
                progress((wi + info.step / info.steps) / n, f"window {wi + 1}/{n}", info)

        text, uncond = job.text, job.uncond
        if job.layout is not None:  # the window's part of the layout, at the latent grid
            h, w = noise.shape[-2:]
            text = (*text, cover(stack([layout_arrays(job.layout, job.width, job.height, idx / BASE_FPS)]), h, w))
            uncond = (*uncond, cover(stack([null_arrays(len(idx))]), h, w))

        # 6. Denoise
        cancelled = False
        try:
            if job.edit:
                z = edit(pipe.model_fn, pipe.make_scheduler(), start, text, uncond, steps=req.steps,
                         guidance=job.guidance, strength=req.strength, generator=generator, cond=cond,
                         replacement=job.replacement, callback=on_step)
            else:
                z = sample(pipe.model_fn, pipe.make_scheduler(), noise, text, uncond, steps=req.steps,
                           guidance=job.guidance, cond=cond, start_latents=start, strength=req.strength,
                           replacement=job.replacement, callback=on_step, churn=req.churn, generator=generator,
                           guided=job.guided)
        except Cancelled as c:
            cancelled, z = True, c.latents
            if z is None:
                return None, True
        # 7. Decode; known frames and pixels are pasted back exactly (the model only fills the unknown)
        return _paste_known(pipe.decode_latents(z), win), cancelled


@dataclasses.dataclass
class Window:
    """One rendered window (Engine.windows): its frames at the base rate (None when stopped before its first
    step), whether the render was stopped in it, and the take's anchor frame so far."""
    wi: int
    idx: np.ndarray
    frames: np.ndarray | None
    cancelled: bool
    first: np.ndarray | None


@dataclasses.dataclass
class Job:
    """A planned render (Engine.prepare): the request, the model and the windows to run."""
    req: GenerateRequest
    pipe: object
    width: int
    height: int
    n: int  # frames at the base rate
    r: int  # temporal ratio
    time_patch: int  # latent frames per transformer token
    text: tuple
    uncond: tuple
    guidance: float
    windows: list  # [(frame indices, frames to hold or None: those already made)]
    init: np.ndarray | None
    replacement: bool
    edit: bool = False  # a flowedit remix (engine.sampling.sampler.edit) rather than sampling
    layout: object = None  # the Layout rendered (engine.layout), None: the prompt alone
    guided: object = None  # the one-call guided model (WorldPipeline.guided_fn) when the distilled sampler renders

    def layout_settings(self) -> dict:
        """What a sidecar records of the layout: the layout itself and whether it was planned or given."""
        if self.layout is None:
            return {"layout": None, "planned": None}
        how = "given" if self.req.layout is not None else "planned"
        return {"layout": self.layout.to_dict(), "planned": f"{how}: {self.layout.describe()}"}


# --------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------

def _window_sizes(r: int) -> tuple[int, int]:
    """(window, overlap) in frames, both 1 + r*k so every window starts on a latent boundary."""
    size = 1 + r * ((WINDOW_FRAMES - 1) // r)
    overlap = 1 + r * math.ceil((OVERLAP_FRAMES - 1) / r)
    return size, overlap


def _windows(n: int, r: int = 1, backward: bool = False) -> list[tuple[int, int]]:
    size, overlap = _window_sizes(r)
    if n <= size:
        return [(0, n)]
    out, a = [], 0
    while a + size < n:
        out.append((a, a + size))
        a += size - overlap
    out.append((n - size, n))
    if backward:  # the same windows, last first: each holds the start of the one after it
        return [(n - b, n - a) for a, b in out]
    return out


def takes_anchor(req: GenerateRequest) -> bool:
    """Whether a render holds its anchor in later windows: a take made from text or from stills. Footage held
    by a clip condition (extend, fill, bridge) carries the look itself; loops, remixes and masks are excluded."""
    return not req.loop and req.init_video is None and all(isinstance(c, ImageCondition) for c in req.conditions)


def hold_anchor(win: WindowKnowledge, anchor: np.ndarray | None) -> int | None:
    """Hold a take's anchor frame in the window, in place of its oldest held frame when at least two are held
    at its start (one must stay to carry the motion on). Returns that slot, whose frame the caller puts back
    after rendering (the anchor only guides), or None when the anchor has no place (or there is none yet)."""
    held = np.flatnonzero(win.known_frames)
    if anchor is None or len(held) < 2 or held[0] != 0 or not win.known_frames[:2].all():
        return None
    win.hold(np.broadcast_to(anchor, win.frames.shape), np.arange(len(win.known_frames)) == 0)
    return 0


def _only_end_known(known: WindowKnowledge, n: int, r: int) -> bool:
    size, _ = _window_sizes(r)
    return bool(known.known_frames.any() and not known.known_frames[:min(size, n)].any())


def _loop_period(req: GenerateRequest) -> int:
    """Frames of one loop period at the base rate (the delivered loop repeats every P / BASE_FPS s)."""
    return max(round(req.duration() * BASE_FPS), round(MIN_LOOP_SECONDS * BASE_FPS))


def _seam_window(P: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (modulo P) of the window across the loop's wrap-around, and which are held:
    a few frames before the end and after the start; the wrap-around sits in the middle."""
    size, _ = _window_sizes(r)
    L = 1 + r * ((min(P, size) - 1) // r)
    ctx = min(OVERLAP_FRAMES, L // 4)
    head, tail = 1 + r * math.ceil((ctx - 1) / r), r * math.ceil(ctx / r)
    hold = np.zeros(L, bool)
    hold[:head] = hold[L - tail:] = True
    if hold.all():
        raise InputError(f"a loop of {P} frames is too short to join; make it at least {MIN_LOOP_SECONDS:g} s")
    start = P - (head + (L - head - tail) // 2)
    return (start + np.arange(L)) % P, hold


def _pad_frames(frames: np.ndarray, n: int) -> np.ndarray:
    if len(frames) >= n:
        return frames[:n]
    return np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), 0)])


# --------------------------------------------------------------------------
# Conditions -> what is known
# --------------------------------------------------------------------------

def _knowledge(req: GenerateRequest, n: int, width: int, height: int, r: int = 1, time_patch: int = 1) \
        -> WindowKnowledge:
    """Everything the request knows about the n base-rate frames, at the canvas size (a still on
    the frames of its token, `still_frames`, where no other condition holds them)."""
    known = WindowKnowledge.empty(n, width, height)
    for c in req.conditions:
        if isinstance(c, ImageCondition):
            idx = c.frame_index if c.frame_index >= 0 else n + c.frame_index
            if not 0 <= idx < n:
                raise InputError(f"image condition at frame {c.frame_index} is outside the clip (0..{n - 1})")
            known.place_still(fit_frames(np.asarray(c.image)[None], width, height), idx,
                              still_frames(idx, n, r, time_patch), c.strength)
        elif isinstance(c, ClipCondition):
            if not -len(c.frames) < c.frame_index < n:
                raise InputError(f"clip condition at frame {c.frame_index} does not overlap the clip (0..{n - 1})")
            known.place(fit_frames(c.frames, width, height), c.frame_index, c.strength)
        elif isinstance(c, MaskCondition):
            keep = known.known_frames.copy()
            frames = fit_frames(_pad_frames(c.video, n), width, height)
            known.frames[~keep] = frames[~keep]
            known.known_pixels = ~fit_mask(c.mask, width, height)
            known.pixel_strength = c.strength
        else:
            raise InputError(f"unknown condition type {type(c).__name__}")
    return known


def _paste_known(frames: np.ndarray, win: WindowKnowledge) -> np.ndarray:
    """Known frames and pixels back exactly, except those of conditions weaker than 1 (the
    model was allowed to change them)."""
    out = frames.copy()
    if win.known_pixels is not None and win.pixel_strength >= 1.0:
        out = np.where(win.known_pixels[None, ..., None], win.frames, out)
    out[win.exact] = win.frames[win.exact]
    return out


