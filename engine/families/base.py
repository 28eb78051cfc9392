"""What LTX and Wan share: loading a diffusers-format folder, devices and memory, checking a
request against what the family can do, and the staged generation around the sampler.

A family subclass supplies the stages that differ: `encode_prompt`, `prepare` (noise and
conditions, drawn from the request's generator in the reference pipeline's order), `model_fn`
(the sampler's calling convention), `make_scheduler` and `decode`.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from engine import defaults
from engine.errors import InputError
from engine.families import VERBS, seam
from engine.provenance.record import Generation
from engine.request import Result, frame_record, record_ranges
from engine.sampling.conditioning import (
    ClipCondition,
    ImageCondition,
    MaskCondition,
    WindowKnowledge,
    build_latent_conditions,
    check_strength,
    fit_frames,
    fit_mask,
)
from engine.sampling.sampler import Cancelled, LatentConditions, StepInfo, sample
from engine.video.retime import delivered_count, retime, retime_loop

MAX_SECONDS = 60.0


class DiffusersFamily:
    """A diffusers-format checkpoint driven by the engine's sampler."""

    family = "?"
    renders_itself = True  # the service hands it the whole request
    supports_image_condition = True
    per_token_timesteps = False
    verbs: dict[str, str] = {}  # verb -> "native" | "replacement"
    native_fps: float | None = None  # None: renders at the requested rate (the model takes it as input)
    size_multiple = 16
    max_side = 1536
    aspects = {"1:1": (512, 512), "16:9": (832, 480), "9:16": (480, 832)}
    text_encoder_class = "T5EncoderModel"
    _preview_state = None  # the state being denoised (run_state), for `preview`
    reader = None  # open vocabularies: prompts go to the model as written
    takes_layout = False  # no layout input (engine.layout): prompts alone
    time_patch = 1

    def __init__(self, path, device: str = "cpu", dtype: torch.dtype = torch.float32, *,
                 offload: bool = False, vae_tiling: bool = False):
        import diffusers  # deferred: diffusers and transformers are heavy; this module imports without it
        import transformers
        from transformers import AutoTokenizer

        path = Path(path)
        self.path, self.name = path, path.name
        self.device, self.dtype, self.offload = torch.device(device), dtype, offload
        self.index = json.loads((path / "model_index.json").read_text())
        # a folder may declare its own canvases (a fine-tune at another resolution, the tiny test models):
        # model_index.json {"_tenku": {"canvases": {"1:1": [w, h], ...}}} (diffusers ignores "_" keys)
        canvases = self.index.get("_tenku", {}).get("canvases")
        if canvases:
            self.aspects = {k: tuple(v) for k, v in canvases.items()}
        self.scheduler_config = json.loads((path / "scheduler" / "scheduler_config.json").read_text())
        self.tokenizer = AutoTokenizer.from_pretrained(path / "tokenizer", local_files_only=True)
        encoder_cls = getattr(transformers, self.index.get("text_encoder", [None, self.text_encoder_class])[1])
        self.text_encoder = encoder_cls.from_pretrained(path / "text_encoder", dtype=dtype, local_files_only=True)
        self.transformer = getattr(diffusers, self.index["transformer"][1]).from_pretrained(
            path / "transformer", torch_dtype=dtype)
        self.vae = getattr(diffusers, self.index["vae"][1]).from_pretrained(path / "vae", torch_dtype=dtype)
        for m in (self.text_encoder, self.transformer, self.vae):
            m.eval().requires_grad_(False)
            m.to("cpu" if offload else self.device)
        if vae_tiling:
            self.vae.enable_tiling()
        self._generator = None
        self._visiting: set[int] = set()  # modules on the device for the current stage (offload)

    # -- capabilities ------------------------------------------------------------
    def check_verb(self, verb: str) -> None:
        """InputError, before any work, for a verb this family cannot do."""
        if verb not in VERBS:
            raise InputError(f"unknown verb {verb!r}; allowed: {', '.join(VERBS)}")
        if verb not in self.verbs:
            can = ", ".join(self.verbs)
            raise InputError(f"{self.family.upper()} models cannot {verb} yet; this model can: {can}")

    def verbs_of(self, req) -> list[str]:
        """The verbs a request needs, read off its conditions."""
        need = ["generate"]
        for c in req.conditions:
            need.append({ImageCondition: "animate", ClipCondition: "extend", MaskCondition: "inpaint"}
                        .get(type(c), "generate"))
        if req.init_video is not None:
            need.append("remix")
        if req.loop:
            need.append("loop")
        return need

    # -- devices and memory -------------------------------------------------------
    @contextlib.contextmanager
    def on_device(self, module):
        """With offload, a module lives on the CPU and visits the device only while it works
        (text encoder, then transformer, then VAE: one at a time, like diffusers' model offload)."""
        if not self.offload or self.device.type == "cpu" or id(module) in self._visiting:
            yield module
            return
        self._visiting.add(id(module))
        module.to(self.device)
        try:
            yield module
        finally:
            module.to("cpu")
            self._visiting.discard(id(module))
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def randn(self, shape) -> torch.Tensor:
        """Noise as diffusers' `randn_tensor` draws it with a CPU generator: on the CPU, then moved."""
        return torch.randn(shape, generator=self._generator, dtype=torch.float32).to(self.device)

    # -- request geometry -------------------------------------------------------------
    def canvas(self, req) -> tuple[int, int]:
        if req.width is not None or req.height is not None:
            if req.width is None or req.height is None:
                raise InputError("give both --width and --height, or neither (then --aspect picks the size)")
            for name, v in (("width", req.width), ("height", req.height)):
                if v <= 0 or v % self.size_multiple or v > self.max_side:
                    raise InputError(f"{name} must be a positive multiple of {self.size_multiple} up to "
                                     f"{self.max_side} for {self.family.upper()} models, got {v}")
            return req.width, req.height
        if req.aspect not in self.aspects:
            raise InputError(f"unknown aspect {req.aspect!r}; allowed: {', '.join(self.aspects)}")
        return self.aspects[req.aspect]

    def render_fps(self, req) -> float:
        return self.native_fps or req.fps

    @property
    def take_fps(self) -> float:
        """The rate the studio asks this model for: its own (Wan 16), else 24 for a model that takes
        the rate as input (LTX-Video; below 24 its clips are short of frames, and loops of a few
        seconds cannot be joined)."""
        return self.native_fps or 24.0

    def frames_for(self, seconds: float, fps: float) -> int:
        """Smallest 1 + k * temporal ratio frame count covering `seconds` at `fps` (WorldPipeline's call)."""
        need = max(1, math.ceil(seconds * fps - 1e-6))
        r = self.temporal_ratio
        return 1 + r * max(0, math.ceil((need - 1) / r))

    def render_frames(self, req) -> int:
        """Frames the model renders (1 + k * temporal ratio) covering the request at the render rate
        (for a loop: covering one period, engine.families.seam)."""
        fps = self.render_fps(req)
        if req.frames is None:
            seconds = 2.0 if req.seconds is None else req.seconds
            if not (0 < seconds <= MAX_SECONDS) or math.isnan(seconds):
                raise InputError(f"seconds must be in (0, {MAX_SECONDS:g}] for {self.family.upper()} models, "
                                 f"got {seconds}")
        if req.loop:
            return seam.render_frames(seam.loop_period(req, fps, self.temporal_ratio), self.temporal_ratio)
        delivered = req.frames if req.frames is not None else max(1, round(seconds * req.fps))
        # the span from the first delivered frame to the last, at the render rate
        need = 1 + math.ceil((delivered - 1) / req.fps * fps - 1e-6)
        r = self.temporal_ratio
        return 1 + r * max(0, math.ceil((max(1, need) - 1) / r))

    def check_request(self, req) -> tuple[int, int, int]:
        """Everything about a request that can fail, before any work: (width, height, frames)."""
        if (not req.prompt or not req.prompt.strip()) and not req.conditions and req.init_video is None:
            raise InputError("the prompt is empty; describe the shot, e.g. 'a red ball rolls to the right'")
        if not (0 < req.fps <= 120) or math.isnan(req.fps):
            raise InputError(f"fps must be in (0, 120], got {req.fps}")
        if not (1 <= req.steps <= 200):
            raise InputError(f"steps must be between 1 and 200, got {req.steps}")
        if not (0 <= req.guidance <= 30):
            raise InputError(f"guidance must be between 0 and 30, got {req.guidance}")
        if req.frames is not None and req.frames < 1:
            raise InputError(f"frames must be at least 1, got {req.frames}")
        for verb in self.verbs_of(req):
            self.check_verb(verb)
        if req.init_video is not None:
            check_strength(req.strength)
            defaults.check_remix_method(req.remix_method)
        for c in req.conditions:
            check_strength(c.strength, "condition strength")
        if req.loop and any(isinstance(c, MaskCondition) for c in req.conditions):
            raise InputError(f"a loop cannot be combined with inpaint for {self.family.upper()} models")
        width, height = self.canvas(req)
        n = self.render_frames(req)
        if req.loop:
            self.loop_plan(req, n, width, height)
        return width, height, n

    # -- stages shared by the families ---------------------------------------------------
    def knowledge(self, req, n: int, width: int, height: int) -> WindowKnowledge:
        """Pixel-space knowledge for the replacement path (engine.sampling.conditioning's representation)."""
        known = WindowKnowledge.empty(n, width, height)
        r = self.temporal_ratio
        for kind, frames, index, strength in place_conditions(req, n, width, height):
            if kind == "mask":
                c = frames
                known.place(pad_to(fit_frames(c.video, width, height), n), 0)
                known.known_frames[:] = False
                known.known_pixels = ~fit_mask(c.mask, width, height)
                known.pixel_strength = strength
            elif kind == "image" and index > 0:  # claim the latent frame covering it
                j = -(-index // r)
                group = range(r * (j - 1) + 1, min(n, r * j + 1))
                known.place(np.repeat(frames, len(group), 0), group.start, strength)
            else:
                known.place(frames, index, strength)
        return known

    @staticmethod
    def to_pixels(frames: np.ndarray, width: int, height: int) -> torch.Tensor:
        """uint8 (F, H, W, 3) -> float (1, 3, F, H, W) in [-1, 1] at the canvas size, as diffusers'
        VideoProcessor gives it (/255 then 2x - 1)."""
        x = torch.from_numpy(np.ascontiguousarray(fit_frames(frames, width, height))).float() / 255.0
        return (x * 2.0 - 1.0).permute(3, 0, 1, 2)[None]

    @staticmethod
    def to_uint8(video: torch.Tensor) -> np.ndarray:
        """Decoded (1, 3, F, H, W) in [-1, 1] -> uint8 (F, H, W, 3), as diffusers' postprocess + PIL."""
        x = (video[0].float() / 2 + 0.5).clamp(0, 1)
        return (x.permute(1, 2, 3, 0).cpu().numpy() * 255).round().astype(np.uint8)

    @staticmethod
    def guidance(req) -> float:
        """As diffusers: no guidance at or below 1; as the service: none without a prompt."""
        return req.guidance if req.guidance > 1.0 and req.prompt.strip() else 1.0

    def denoise(self, state: dict, text, uncond, req, callback=None):
        """6. Denoise with the engine's sampler (a family with a multistep scheduler overrides this)."""
        guidance = self.guidance(req)
        return sample(self.model_fn, self.make_scheduler(state), state["noise"], text, uncond, steps=req.steps,
                      guidance=guidance, cond=state.get("cond"), start_latents=state.get("start"),
                      strength=req.strength, replacement=state.get("replacement", False), callback=callback)

    @torch.no_grad()
    def render_latents(self, req, progress=None, span=(0.0, 1.0)) -> dict:
        """Stages 1-6: the denoised latents of a request, in the family's own layout, with what
        decoding needs ({"latents", "state", "width", "height", "frames", "cancelled", "text"})."""
        # 1. Check inputs
        width, height, n = self.check_request(req)
        self._generator = torch.Generator().manual_seed(req.seed)
        # 2. Encode prompt
        text, uncond = self.encode_prompt([req.prompt, req.negative])
        # 3-5. Prepare latents and conditions (family-specific, in the reference's draw order)
        state = self.prepare(req, n, width, height)
        # 6. Denoise
        z, cancelled = self.run_state(state, text, uncond, req, progress, span)
        return {"latents": z, "state": state, "width": width, "height": height, "frames": n,
                "cancelled": cancelled, "text": (text, uncond)}

    def run_state(self, state: dict, text, uncond, req, progress=None, span=(0.0, 1.0), stage="denoise"):
        """Denoise a prepared state: (latents, cancelled); progress reported within `span` of the job."""
        a, b = span

        def on_step(info: StepInfo):
            if progress is not None:
                progress(a + (b - a) * info.step / info.steps, stage, info)

        self._preview_state = state  # what `preview` needs to decode this state's latents
        try:
            with self.on_device(self.transformer):  # one visit for the whole loop, not one per step
                return self.denoise(state, text, uncond, req, on_step), False
        except Cancelled as c:
            return c.latents, True

    def preview(self, denoised: torch.Tensor) -> np.ndarray:
        """The frames of a step's clean estimate of the state being denoised (run_state)."""
        state = self._preview_state
        if state is None:
            raise RuntimeError("preview is for a step of a render in progress (run_state)")
        return self.decode(denoised, state)

    # -- loops -------------------------------------------------------------------------------
    def loop_plan(self, req, n: int, width: int, height: int):
        """(period P, seam window frame indices modulo P, held) for a loop request (engine.families.seam);
        InputError before any work when it cannot be joined."""
        fps, r = self.render_fps(req), self.temporal_ratio
        P = seam.loop_period(req, fps, r)
        fixed = self.knowledge(req, n, width, height).known_frames[:P]  # frames the conditions place
        idx, hold = seam.seam_window(P, fps, r, fixed)
        return P, idx, hold

    @torch.no_grad()
    def render_loop(self, req, progress=None) -> dict:
        """A loop: the clip (covering one period P), then one window across the wrap-around on frames
        modulo P, holding the frames before the end and after the start (whole latent frames) and
        regenerating those between; only the regenerated frames replace the clip's.
        Returns {"frames" (one period), "clip", "period", "window", "hold", "seam_latents",
        "seam_state", "width", "height", "frames_rendered", "cancelled"}."""
        width, height, n = self.check_request(req)
        P, idx, hold = self.loop_plan(req, n, width, height)
        share = n / (n + len(idx))  # progress: the clip, then the seam, by frames
        clip = self.render_latents(req, progress, (0.0, share))
        out = {"period": P, "window": idx, "hold": hold, "seam_latents": None, "seam_state": None,
               "width": width, "height": height, "frames_rendered": n, "cancelled": clip["cancelled"]}
        if clip["latents"] is None:
            empty = np.zeros((0, height, width, 3), np.uint8)
            return {**out, "frames": empty, "clip": empty}
        base = self.decode(clip["latents"], clip["state"])
        frames = base[:P].copy()
        out.update(clip=base, frames=frames)
        if clip["cancelled"]:
            return out
        init = None
        if req.init_video is not None:
            init = pad_to(fit_frames(req.init_video, width, height), n)[idx]
        state = self.prepare_seam(req, base[idx], hold, width, height, init)
        z, cancelled = self.run_state(state, *clip["text"], req, progress, (share, 1.0), "seam")
        out.update(seam_latents=z, seam_state=state, cancelled=cancelled)
        if z is not None and not cancelled:
            window = self.decode(z, state)
            frames[idx[~hold]] = window[~hold]  # held frames stay the clip's own, exactly
        return out

    def prepare_seam(self, req, frames: np.ndarray, hold: np.ndarray, width: int, height: int,
                     init: np.ndarray | None = None) -> dict:
        """The seam window's state: noise, and its held frames (all of `frames` known where `hold`)."""
        raise NotImplementedError

    def seam_conditions(self, frames: np.ndarray, hold: np.ndarray, latents: torch.Tensor):
        """The sampler's conditions for a seam window from its encoded frames (1, C, T, h, w): the
        held latent frames known (engine.sampling.conditioning, as the bundled model's windows)."""
        known = WindowKnowledge(frames.copy(), hold.copy())
        patch = getattr(self, "patch_t", None)
        patch = (self.patch_t, self.patch, self.patch) if patch else tuple(self.transformer.config.patch_size)
        return build_latent_conditions(latents, known, self.temporal_ratio, self.spatial_ratio, patch)

    def conditions_on_device(self, c: LatentConditions) -> LatentConditions:
        """Element masks and levels on the device beside the latents; token masks and levels on the
        CPU, where the sampler builds its per-token timesteps (the model moves them over)."""
        dev = self.device
        return LatentConditions(latents=c.latents.to(dev), clean=c.clean.to(dev), held=c.held.to(dev),
                                token_clean=c.token_clean.cpu(),
                                level=None if c.level is None else c.level.to(dev),
                                token_level=None if c.token_level is None else c.token_level.cpu())

    def deliver_loop(self, frames: np.ndarray, req):
        """One period at req.fps: as rendered when the rates agree; else resampled on the ring (the
        in-betweens after the last frame lead into the first), as the bundled model's loops."""
        fps, P = self.render_fps(req), len(frames)
        if abs(fps - req.fps) < 1e-6 or P == 0:
            return frames, np.arange(P, dtype=np.float64)
        return retime_loop(frames, fps, req.fps)

    @torch.no_grad()
    def generate(self, req, progress=None):
        """Render a GenerateRequest; returns the service's Result (with its per-frame record)."""
        t0 = time.time()
        if req.loop:
            r = self.render_loop(req, progress)
            base = r["frames"]
            frames, pos = self.deliver_loop(base, req)
            kinds_n = len(base) + 1
        else:
            r = self.render_latents(req, progress)
            # 7. Decode
            if r["latents"] is None:
                base = np.zeros((0, r["height"], r["width"], 3), np.uint8)
            else:
                base = self.decode(r["latents"], r["state"])
            # 8. Deliver at the requested rate
            frames, pos = self.deliver(base, req)
            kinds_n = len(base)
        n = r["frames_rendered"] if req.loop else r["frames"]
        settings = self.settings(req, r["width"], r["height"], n)
        if req.loop:
            settings.update(loop_period=r["period"], seam_frames=[int(i) for i in r["window"]],
                            seam_held=[bool(h) for h in r["hold"]])
        gen = Generation(self.name, req.prompt, req.seed, {"steps": req.steps, "guidance": req.guidance,
                                                           "negative": req.negative, "family": self.family})
        kind = "inpainted" if any(isinstance(c, MaskCondition) for c in req.conditions) else "generated"
        record = frame_record(pos, [kind] * kinds_n, gen, req.fps) if len(frames) else None
        return Result(frames, req.fps, base, settings, record_ranges(record) if record else [], r["cancelled"],
                      time.time() - t0, record)

    def deliver(self, base: np.ndarray, req):
        """Frames at req.fps and their positions in `base`: LTX renders at the requested rate (cut to
        the frames asked for); Wan renders at 16 fps and is resampled (engine.video.retime)."""
        fps = self.render_fps(req)
        count = req.frames if req.frames is not None else max(1, round((req.seconds or 2.0) * req.fps))
        count = min(count, delivered_count(len(base), fps, req.fps))
        if abs(fps - req.fps) < 1e-6:
            return base[:count], np.arange(count, dtype=np.float64)
        return retime(base, fps, req.fps, count)

    def settings(self, req, width, height, n) -> dict:
        d = {k: v for k, v in vars(req).items() if k not in ("conditions", "init_video")}
        d.update(width=width, height=height, model=self.name, family=self.family, render_frames=n,
                 render_fps=self.render_fps(req), dtype=str(self.dtype).replace("torch.", ""),
                 device=str(self.device), offload=self.offload,
                 conditions=[{"type": type(c).__name__, "frame_index": getattr(c, "frame_index", None),
                              "strength": c.strength} for c in req.conditions],
                 remix=req.init_video is not None,
                 # the families' loops sample: a remix is SDEdit whatever the request asked
                 remix_method="sdedit" if req.init_video is not None else None,
                 conditioning="native" if self.per_token_timesteps else "replacement")
        return d


def place_conditions(req, n: int, width: int, height: int):
    """Conditions at absolute frame indices: [(kind, uint8 frames, index, strength)]."""
    out = []
    for c in req.conditions:
        if isinstance(c, ImageCondition):
            idx = c.frame_index if c.frame_index >= 0 else n + c.frame_index
            if not 0 <= idx < n:
                raise InputError(f"image condition at frame {c.frame_index} is outside the clip (0..{n - 1})")
            out.append(("image", fit_frames(c.image[None], width, height), idx, c.strength))
        elif isinstance(c, ClipCondition):
            idx = c.frame_index if c.frame_index >= 0 else n + c.frame_index
            if not 0 <= idx < n:
                raise InputError(f"clip condition at frame {c.frame_index} is outside the clip (0..{n - 1})")
            out.append(("clip", fit_frames(c.frames, width, height), idx, c.strength))
        elif isinstance(c, MaskCondition):
            out.append(("mask", c, 0, c.strength))
        else:
            raise InputError(f"unknown condition type {type(c).__name__}")
    return out


def pad_to(frames: np.ndarray, n: int) -> np.ndarray:
    """Exactly n frames: cut, or repeat the last."""
    if len(frames) >= n:
        return frames[:n]
    return np.concatenate([frames, np.repeat(frames[-1:], n - len(frames), 0)])
