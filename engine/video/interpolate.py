"""Frame interpolation and retiming with optical flow (OpenCV DIS), on the CPU.

How a frame at time t in (0, 1) between frame0 and frame1 is made:

1. Flow both ways, F01 and F10, with DIS (Kroeger et al., ECCV 2016), whose
   coarse-to-fine pyramid handles large motion. Flow runs on grey frames at
   half resolution (where DIS's presets put their finest level too), but
   never below `min_flow_width` pixels wide so small frames keep their
   detail. The default DIS preset is "ultrafast": on the real triplets and
   the held-out clips "fast" and "medium" were within 0.2 dB of it (neither
   better on both) at 2-3x the cost, and 640x480 must run at 10 frames/s.
   A pair's flows are computed once and reused for every t (factor > 2).
2. Flow from time t back to each frame. Three hypotheses per pixel:
   the zero-order one used by most flow interpolators (the flow at the same
   place in the other frame, scaled: Ft0 = t*F10, Ft1 = (1-t)*F01), and the
   two exact inversions of linear motion found by fixed-point iteration,
   V(x) = F01(x - t*V(x)) and U(x) = F10(x - (1-t)*U(x)). They disagree where
   objects move over each other; there the hypothesis under which the two
   warped frames agree best locally (bilateral matching cost, as in
   ffmpeg's minterpolate "bidir", but per pixel) wins, softly, so there are
   no hard seams. This is the occlusion reasoning: a pixel covered in one
   frame makes its wrong hypothesis disagree.
3. Both frames are warped to t with bicubic resampling (measured: about
   +1.4 dB over bilinear on the 320x180 real triplets, where sub-pixel detail
   matters) and mixed (1-t, t). Because every output pixel is pulled from
   both frames along one consistent motion, nothing is doubled: the blend
   does not ghost where the flow is right.

Scene cuts are found by `detect_cuts` and never interpolated across: output
times that fall between the two sides of a cut repeat the nearest original
frame. `flow_confidence` tells a caller (the `fill` verb) whether flow can
bridge a gap or the generative model should take over.

Limits, measured on real footage (docs/BENCHMARKS.md): the motion model is
linear between the two frames, so accelerating or jittering motion is placed
wrong; large occluded areas (a person walking past the camera) smear.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction

import cv2
import numpy as np

from engine.errors import InputError
from engine.video.media import Video, as_frames, parse_fps

MIN_SIDE = 16  # DIS needs a few patches per side at its finest level
_DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
                "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
                "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


@dataclass
class InterpolationConfig:
    """Settings of the flow interpolator. JSON types only (saved in sidecars)."""
    flow_preset: str = "ultrafast"    # DIS preset: ultrafast | fast | medium
    flow_scale: float = 0.5           # flow resolution relative to the frame...
    min_flow_width: int = 320         # ...but at least this wide (or the full width)
    fixed_point_iters: int = 2        # iterations of the motion inversion
    match_window: int = 5             # box size (flow pixels) of the matching cost
    match_temperature: float = 2.0    # softness of hypothesis selection (grey levels)
    cut_threshold: float = 3.0        # see detect_cuts
    confidence_fb_px: float = 1.0     # forward-backward error (flow px) counted as consistent

    def __post_init__(self):
        if self.flow_preset not in _DIS_PRESETS:
            raise InputError(f"flow_preset {self.flow_preset!r} is not one of {sorted(_DIS_PRESETS)}")
        if not 0 < self.flow_scale <= 1:
            raise InputError(f"flow_scale must be in (0, 1], got {self.flow_scale}")


@dataclass
class PairFlow:
    """Bidirectional flow between two frames, computed once, used for any t.

    F01, F10: (h, w, 2) float32 flow at the reduced flow size (h, w), in
    flow-size pixels. g0, g1: the grey frames at that size (float32).
    """
    frame0: np.ndarray
    frame1: np.ndarray
    g0: np.ndarray
    g1: np.ndarray
    F01: np.ndarray
    F10: np.ndarray
    _confidence: float | None = field(default=None, repr=False)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

_GRIDS: dict = {}
_GRIDS_LOCK = threading.Lock()


def _grid(h: int, w: int) -> np.ndarray:
    """(h, w, 2) float32 pixel coordinates (x, y), cached per size (read-only: shared by threads)."""
    with _GRIDS_LOCK:
        g = _GRIDS.get((h, w))
        if g is None:
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            g = _GRIDS[(h, w)] = np.dstack([xs, ys])
            g.flags.writeable = False
            if len(_GRIDS) > 16:
                _GRIDS.pop(next(iter(_GRIDS)))
        return g


def warp(img: np.ndarray, flow: np.ndarray, interpolation=cv2.INTER_LINEAR) -> np.ndarray:
    """Backward warp: out(x) = img(x + flow(x)). OpenCV's remap pulls pixels."""
    h, w = flow.shape[:2]
    return _remap(img, _grid(h, w) + flow, interpolation)


def _remap(img: np.ndarray, coords: np.ndarray, interpolation=cv2.INTER_LINEAR) -> np.ndarray:
    """out(x) = img(coords(x)), coords (h, w, 2) float32 absolute pixel positions (x, y)."""
    return cv2.remap(img, coords, None, interpolation, borderMode=cv2.BORDER_REPLICATE)


def default_threads() -> int:
    """Worker threads for a sequence: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _check_pair(frame0, frame1):
    for name, f in (("frame0", frame0), ("frame1", frame1)):
        if not isinstance(f, np.ndarray) or f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
            raise InputError(f"{name} must be a uint8 (H, W, 3) RGB array")
    if min(frame0.shape[:2]) < MIN_SIDE:
        raise InputError(f"frames of {frame0.shape[1]}x{frame0.shape[0]} are too small for optical flow; "
                         f"both sides must be at least {MIN_SIDE} pixels")
    if frame0.shape != frame1.shape:
        raise InputError(f"frames differ in size ({frame0.shape[1]}x{frame0.shape[0]} vs "
                         f"{frame1.shape[1]}x{frame1.shape[0]}); both frames must have the same size")


def _check_t(t) -> float:
    t = float(t)
    if not 0.0 < t < 1.0:
        raise InputError(f"t must be strictly between 0 and 1, got {t}")
    return t


# ---------------------------------------------------------------------------
# The interpolator
# ---------------------------------------------------------------------------

class Interpolator:
    """Reusable flow interpolator: create once, call many times.

    One instance can be shared by the engine's threads: each thread gets its
    own DIS solver. `threads`: workers for a sequence (`render`), each making
    whole pairs (flow and in-betweens); default, the cores this process may
    use. The frames do not depend on it.
    """

    def __init__(self, config: InterpolationConfig | None = None, threads: int | None = None):
        self.config = config or InterpolationConfig()
        self.threads = default_threads() if threads is None else max(1, int(threads))
        self._local = threading.local()  # one DIS solver per thread: solvers keep state between calls
        self._dis  # made now, so a bad preset fails here and not in a worker

    @property
    def _dis(self):
        dis = getattr(self._local, "dis", None)
        if dis is None:
            dis = self._local.dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.config.flow_preset])
            dis.setFinestScale(0)  # the frames we pass are already reduced
        return dis

    # -- flow ---------------------------------------------------------------
    def flow_size(self, width: int, height: int) -> tuple[int, int]:
        c = self.config
        s = max(c.flow_scale, min(1.0, c.min_flow_width / max(width, 1)))
        return max(MIN_SIDE, round(width * s)), max(MIN_SIDE, round(height * s))

    def _small_grey(self, frame: np.ndarray, size) -> np.ndarray:
        g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if (g.shape[1], g.shape[0]) != size:
            g = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
        return g

    def flow(self, frame0: np.ndarray, frame1: np.ndarray) -> PairFlow:
        """Bidirectional DIS flow at the reduced flow size (thread-safe: each thread has its own solver)."""
        _check_pair(frame0, frame1)
        size = self.flow_size(frame0.shape[1], frame0.shape[0])
        g0, g1 = self._small_grey(frame0, size), self._small_grey(frame1, size)
        dis = self._dis
        F01 = dis.calc(g0, g1, None)
        F10 = dis.calc(g1, g0, None)
        return PairFlow(frame0, frame1, g0.astype(np.float32), g1.astype(np.float32), F01, F10)

    # -- synthesis ----------------------------------------------------------
    def _flows_to_t(self, p: PairFlow, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Flow from time t to frame 0 and to frame 1, at flow size (step 2 above).

        Every warp here is one remap whose map (grid + s * flow) is made in one pass (cv2.scaleAdd)."""
        c = self.config
        F01, F10 = p.F01, p.F10
        g = _grid(*F01.shape[:2])
        V, U = F01, F10
        for _ in range(c.fixed_point_iters):
            V = _remap(F01, cv2.scaleAdd(V, -t, g))        # V(x) = F01(x - t V(x)): linear motion through x at t
            U = _remap(F10, cv2.scaleAdd(U, t - 1.0, g))   # U(x) = F10(x - (1-t) U(x)), seen from frame 1
        # Hypotheses (flow t->0, flow t->1) = (t F10, (1-t) F01), (-t V, (1-t) V), (t U, -(1-t) U),
        # each scored by how well the two frames warped along it agree (box-filtered absolute difference).
        k = (c.match_window, c.match_window)
        costs = []
        for f0, s0, f1, s1 in ((F10, t, F01, 1.0 - t), (V, -t, V, 1.0 - t), (U, t, U, t - 1.0)):
            diff = cv2.absdiff(_remap(p.g0, cv2.scaleAdd(f0, s0, g)), _remap(p.g1, cv2.scaleAdd(f1, s1, g)))
            costs.append(cv2.boxFilter(diff, -1, k))
        low = cv2.min(cv2.min(costs[0], costs[1]), costs[2])
        scale = 1.0 / c.match_temperature  # soft choice: exp(-(cost - lowest) / temperature), normalised
        e = [cv2.exp(cv2.scaleAdd(cost, -scale, low * np.float32(scale))) for cost in costs]
        total = cv2.add(cv2.add(e[0], e[1]), e[2])
        w0, w1, w2 = (cv2.merge([w, w]) for w in (cv2.divide(ei, total) for ei in e))  # 2 channels, as the flows
        wV, wU = cv2.multiply(w1, V), cv2.multiply(w2, U)
        Ft0 = cv2.scaleAdd(cv2.subtract(wU, wV), 1.0, cv2.multiply(w0, F10))
        Ft1 = cv2.scaleAdd(cv2.subtract(wV, wU), 1.0, cv2.multiply(w0, F01))
        return Ft0 * np.float32(t), Ft1 * np.float32(1.0 - t)

    def synthesize(self, p: PairFlow, t: float) -> np.ndarray:
        """The frame at time t between the pair's frames (uint8 RGB)."""
        t = _check_t(t)
        H, W = p.frame0.shape[:2]
        Ft0, Ft1 = self._flows_to_t(p, t)
        h, w = Ft0.shape[:2]
        G = _grid(H, W)
        warped = []
        for img, F in ((p.frame0, Ft0), (p.frame1, Ft1)):
            if (h, w) != (H, W):  # to full size, in full-size pixels
                F = cv2.resize(F * np.float32([W / w, H / h]), (W, H), interpolation=cv2.INTER_LINEAR)
            # fixed-point maps: what remap makes of float maps anyway, made once, whole
            m1, m2 = cv2.convertMaps(cv2.add(G, F), None, cv2.CV_16SC2)
            warped.append(cv2.remap(img, m1, m2, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE))
        return cv2.addWeighted(warped[0], 1.0 - t, warped[1], t, 0.0)

    def interpolate_pair(self, frame0, frame1, t: float = 0.5) -> np.ndarray:
        """One frame at time t in (0, 1) between two uint8 RGB frames."""
        t = _check_t(t)
        return self.synthesize(self.flow(frame0, frame1), t)

    def fill_gap(self, frame_before, frame_after, n: int) -> np.ndarray:
        """n evenly spaced frames strictly between two frames, (n, H, W, 3) uint8.

        Check `flow_confidence` first: a long gap or a low score means flow
        cannot bridge it and the generative model should fill it instead."""
        n = int(n)
        if n < 1:
            raise InputError(f"a gap needs at least 1 frame, got {n}")
        p = self.flow(frame_before, frame_after)
        return np.stack([self.synthesize(p, k / (n + 1)) for k in range(1, n + 1)])

    def confidence(self, p: PairFlow) -> float:
        """Share of pixels in [0, 1] where flow is trustworthy.

        A pixel counts when the forward and backward flows agree (the round
        trip F01 then F10 returns within `confidence_fb_px` flow pixels plus 5%
        of the motion) and the frame warped by the flow matches the other frame
        within 12 grey levels. Flow over a cut, through a large occlusion or
        past the pyramid's reach scores low.
        """
        if p._confidence is None:
            c = self.config
            back = warp(p.F10, p.F01)
            fb = np.linalg.norm(p.F01 + back, axis=-1)
            mag = np.linalg.norm(p.F01, axis=-1)
            photo = cv2.boxFilter(np.abs(warp(p.g1, p.F01) - p.g0), -1, (3, 3))
            ok = (fb <= c.confidence_fb_px + 0.05 * mag) & (photo <= 12.0)
            p._confidence = float(ok.mean())
        return p._confidence

    def flow_confidence(self, frame0, frame1) -> float:
        """`confidence` of the flow between two frames (see there)."""
        return self.confidence(self.flow(frame0, frame1))

    # -- sequences ------------------------------------------------------------
    def detect_cuts(self, frames) -> list[int]:
        return detect_cuts(frames, threshold=self.config.cut_threshold)

    def interpolate_frames(self, frames, factor: int, cuts: list[int] | None = None) -> np.ndarray:
        """Insert factor-1 frames between each pair: N frames -> (N-1)*factor+1.

        Pairs across a cut (given, or found with detect_cuts) are not
        interpolated: the first half repeats the frame before, the rest the
        frame after."""
        frames = _as_sequence(frames)
        factor = check_factor(factor)
        times = np.arange(len(frames), dtype=np.float64)
        plan = plan_retime(times, Fraction(factor), self.detect_cuts(frames) if cuts is None else cuts)
        return self.render(frames, plan)

    def retime(self, video, fps=None, factor=None):
        """Resample a clip to a constant rate by interpolation; returns (frames, fps).

        Exactly one of `fps` (the output rate) or `factor` (an integer >= 2:
        output rate = factor * input rate) is given. Source frame times come
        from `video.timestamps`, so variable-frame-rate input is placed
        correctly; output frame k is at timestamps[0] + k / fps. Use `plan`
        then `render` to also get the per-frame provenance.
        """
        plan = self.plan(video, fps=fps, factor=factor)
        return self.render(plan.frames, plan.steps), float(plan.rate)

    def plan(self, video, fps=None, factor=None, cuts: list[int] | None = None) -> "RetimePlan":
        """Work out what `retime` would make, without making it (cuts detected unless given)."""
        if not isinstance(video, Video):
            video = Video.from_frames(video)
        frames = _as_sequence(video.frames)
        if (fps is None) == (factor is None):
            raise InputError("give exactly one of fps or factor")
        if factor is not None:
            rate = parse_fps(video.fps) * check_factor(factor)
        else:
            rate = parse_fps(fps)
        cuts = self.detect_cuts(frames) if cuts is None else sorted(int(c) for c in cuts)
        steps = plan_retime(np.asarray(video.timestamps, np.float64), rate, cuts)
        return RetimePlan(frames, steps, rate, cuts)

    def render(self, frames: np.ndarray, plan: list["PlannedFrame"]) -> np.ndarray:
        """Make the frames a plan asks for, as one (len(plan), H, W, 3) array (see `stream`)."""
        out = np.empty((len(plan),) + frames.shape[1:], np.uint8)
        for k, frame in enumerate(self.stream(frames, plan)):
            out[k] = frame
        return out

    def stream(self, frames: np.ndarray, plan: list["PlannedFrame"]):
        """The frames a plan asks for, one at a time, in order, as they are made (an encoder can take
        each while the next are being made); each pair's flow is computed once.

        Pairs are shared out among `self.threads` workers (OpenCV lets go of the GIL), a few pairs
        ahead of the one being handed out; every frame depends only on its own pair, so the frames
        are the same for any number of workers."""
        pairs: dict[int, list[float]] = {}
        for step in plan:
            if step.kind == "interpolated":
                pairs.setdefault(step.source, []).append(step.t)

        def make(i: int) -> dict[float, np.ndarray]:
            pair = self.flow(frames[i], frames[i + 1])
            return {t: self.synthesize(pair, t) for t in pairs[i]}

        workers = min(self.threads, len(pairs))
        pool = None
        if workers > 1:
            pool = ThreadPoolExecutor(workers, thread_name_prefix="interpolate")
        try:
            todo, ahead = iter(pairs), {}
            made: dict[int, dict[float, np.ndarray]] = {}
            for step in plan:
                if step.kind != "interpolated":
                    yield frames[step.source]
                    continue
                i = step.source
                if i not in made:
                    made.clear()  # the plan visits pairs in order: the last pair's frames are done with
                    if pool is None:
                        made[i] = make(i)
                    else:
                        for j in todo:  # keep every worker busy, and one pair waiting
                            ahead[j] = pool.submit(make, j)
                            if len(ahead) > workers:
                                break
                        made[i] = ahead.pop(i).result() if i in ahead else make(i)  # (a plan that goes back)
                yield made[i][step.t]
        finally:
            if pool is not None:
                for f in ahead.values():
                    f.cancel()
                pool.shutdown(wait=True)


# ---------------------------------------------------------------------------
# Retiming plan: which source frames and t each output frame comes from
# ---------------------------------------------------------------------------

@dataclass
class PlannedFrame:
    """How output frame k is made: kind is "original" (copy of `source`),
    "interpolated" (between `source` and `source + 1` at `t`) or "held"
    (copy of `source` because the time falls across a scene cut)."""
    time: float
    kind: str
    source: int
    t: float = 0.0

    def record(self) -> dict:
        d = {"time": round(self.time, 6), "kind": self.kind, "source": self.source}
        if self.kind == "interpolated":
            d["t"] = round(self.t, 6)
        return d


@dataclass
class RetimePlan:
    """Source frames, one PlannedFrame per output frame, the output rate and the cuts used."""
    frames: np.ndarray
    steps: list[PlannedFrame]
    rate: Fraction
    cuts: list[int]


MAX_FACTOR = 16  # 15 new frames between each pair: past it, flow from two frames has nothing left to say
MAX_OUTPUT_FPS = 240  # players and editors take up to this; a typo of 1e6 asked for 44 GB of frames
MAX_INPUT_FPS = 1000  # a frame folder's rate: high-speed cameras shoot up to about this


def check_factor(factor) -> int:
    try:
        f = float(factor)
    except (TypeError, ValueError):
        raise InputError(f"factor must be a whole number >= 2, got {factor!r}") from None
    if not np.isfinite(f) or f != int(f) or not 2 <= f <= MAX_FACTOR:
        raise InputError(f"factor must be a whole number from 2 to {MAX_FACTOR}, got {factor!r}; for other rates "
                         "use fps")
    return int(f)


def plan_retime(timestamps, rate, cuts=(), snap: float = 1e-3) -> list[PlannedFrame]:
    """Plan output frames at timestamps[0] + k/rate over the source's time span.

    timestamps: source frame times in seconds (increasing; may be uneven, VFR).
    rate: output frames per second (number or Fraction). A time within `snap`
    of an interval from a source frame copies that frame. cuts: indices of the
    first frame of each new shot; times between frame c-1 and c are "held".
    """
    ts = np.asarray(timestamps, np.float64)
    if ts.ndim != 1 or len(ts) < 2:
        raise InputError("retiming needs at least two frames")
    if np.any(np.diff(ts) <= 0):
        raise InputError("frame timestamps must be strictly increasing")
    rate = Fraction(rate) if not isinstance(rate, Fraction) else rate
    if rate <= 0:
        raise InputError(f"fps must be positive, got {float(rate)}")
    cuts = set(int(c) for c in cuts)
    span = ts[-1] - ts[0]
    n_out = int(np.floor(span * float(rate) + snap)) + 1  # snap: a rounded rate keeps the last frame
    plan = []
    for k in range(n_out):
        tau = ts[0] + float(Fraction(k) / rate)
        i = int(np.clip(np.searchsorted(ts, tau, side="right") - 1, 0, len(ts) - 2))
        t = (tau - ts[i]) / (ts[i + 1] - ts[i])
        if t <= snap:
            plan.append(PlannedFrame(tau, "original", i))
        elif t >= 1 - snap:
            plan.append(PlannedFrame(tau, "original", i + 1))
        elif (i + 1) in cuts:
            plan.append(PlannedFrame(tau, "held", i if t < 0.5 else i + 1))
        else:
            plan.append(PlannedFrame(tau, "interpolated", i, float(t)))
    return plan


def _as_sequence(frames) -> np.ndarray:
    frames = as_frames(frames)
    if len(frames) < 2:
        raise InputError(f"interpolation needs at least two frames, got {len(frames)}")
    if min(frames.shape[1:3]) < MIN_SIDE:
        raise InputError(f"frames of {frames.shape[2]}x{frames.shape[1]} are too small for optical flow; "
                         f"both sides must be at least {MIN_SIDE} pixels")
    return frames


# ---------------------------------------------------------------------------
# Scene cuts
# ---------------------------------------------------------------------------

_CUT_WIDTH = 96


def cut_scores(frames) -> np.ndarray:
    """Per boundary i (between frame i and i+1), how unlike a continuation it is.

    Frames are shrunk to 96 px wide; frame i+1 is predicted from frame i by
    coarse flow (so camera and object motion explain themselves away) and the
    score is the mean absolute prediction error, in grey levels, multiplied
    by how much the colour histograms differ (1 + L1 distance, in [1, 3]).
    Within a shot the error stays near the noise level even in fast motion;
    across a cut neither term can be explained away.
    """
    frames = np.asarray(frames)
    n, H, W = frames.shape[:3]
    size = (_CUT_WIDTH, max(MIN_SIDE, round(H * _CUT_WIDTH / W))) if W > _CUT_WIDTH else (W, H)
    small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
    grey = [cv2.cvtColor(s, cv2.COLOR_RGB2GRAY) for s in small]
    hists = []
    for s in small:
        h = cv2.calcHist([s], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3).ravel()
        hists.append(h / max(h.sum(), 1))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    scores = np.zeros(max(n - 1, 0))
    for i in range(n - 1):
        g0, g1 = grey[i], grey[i + 1]
        flow = dis.calc(g1, g0, None)  # for each pixel of frame i+1, where it was in frame i
        pred = warp(g0.astype(np.float32), flow)
        err = float(np.mean(np.abs(pred - g1)))
        hist = float(np.abs(hists[i] - hists[i + 1]).sum())
        scores[i] = err * (1.0 + hist)
    return scores


def detect_cuts(frames, threshold: float = 3.0, min_score: float = 8.0) -> list[int]:
    """Indices of frames that start a new shot (a hard cut between i-1 and i).

    A boundary is a cut when its `cut_scores` value exceeds both `min_score`
    and `threshold` times the median score of the boundaries around it
    (seven each side), which adapts to noisy or fast-moving footage.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) < 2:
        return []
    s = cut_scores(frames)
    cuts = []
    for i, v in enumerate(s):
        lo, hi = max(0, i - 7), min(len(s), i + 8)
        around = np.concatenate([s[lo:i], s[i + 1:hi]])
        local = float(np.median(around)) if len(around) else 0.0
        if v > min_score and v > threshold * max(local, 1.0):
            cuts.append(i + 1)
    return cuts


# ---------------------------------------------------------------------------
# Module-level API over one shared interpolator
# ---------------------------------------------------------------------------

_DEFAULT: Interpolator | None = None
_DEFAULT_LOCK = threading.Lock()


def default_interpolator() -> Interpolator:
    """The shared Interpolator, created on first use (never at import)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Interpolator()
        return _DEFAULT


def interpolate_pair(frame0, frame1, t: float = 0.5) -> np.ndarray:
    return default_interpolator().interpolate_pair(frame0, frame1, t)


def interpolate_frames(frames, factor: int, cuts=None) -> np.ndarray:
    return default_interpolator().interpolate_frames(frames, factor, cuts)


def retime(video, fps=None, factor=None):
    return default_interpolator().retime(video, fps=fps, factor=factor)


def fill_gap(frame_before, frame_after, n: int) -> np.ndarray:
    return default_interpolator().fill_gap(frame_before, frame_after, n)


def flow_confidence(frame0, frame1) -> float:
    return default_interpolator().flow_confidence(frame0, frame1)


interpolate_pair.__doc__ = Interpolator.interpolate_pair.__doc__
interpolate_frames.__doc__ = Interpolator.interpolate_frames.__doc__
retime.__doc__ = Interpolator.retime.__doc__
fill_gap.__doc__ = Interpolator.fill_gap.__doc__
flow_confidence.__doc__ = Interpolator.confidence.__doc__
