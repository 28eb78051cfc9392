"""Multi-shot scenes: several shots, one cast, cuts, crossfades or generated bridges.

A scene file (JSON) describes the cast once and refers to it from every shot:

    {
      "cast": {"ball": "the big red ball", "box": "a small blue box"},
      "setting": "on the grass",
      "aspect": "16:9", "fps": 24, "seed": 0,
      "shots": [
        {"prompt": "{ball} rolls to the right", "seconds": 3},
        {"prompt": "{box} falls down", "seconds": 2, "camera": "pan_left", "transition": "crossfade"},
        {"prompt": "{ball} bounces while {box} stays still", "seconds": 3,
         "transition": {"type": "bridge", "seconds": 1}}
      ]
    }

Every `{member}` in a prompt becomes the member's description word for word, so
each shot asks the model for the same look; the continuity check
(`engine.scenes.continuity`) then reads each shot back, and a shot that broke the look of
a member it names is rendered again with the next seed (`retries` times at most,
first against the shots before it, then against the whole scene) before the scene
is assembled.

References carry a look across cuts. Before the first shot, a cast sheet renders
each member alone until the extractor sees it as described (colour, shape, and a
size within SIZE_TOLERANCE of the one named) and finds it whole (`locate`; up to
CAST_TRIES seeds); failing that, the try closest to the description, scaled to the
size it names (a look kept in every shot beats one that changes; the check notes
the difference from the description); a member it never finds whole takes its look
from the first kept take that shows it as the check wants. Every shot that names a
member with a reference by its `{placeholder}` then starts from a still: the shot's
setting with nobody in it (`plate`: quick renders of `plate_prompt`, the cast's
descriptions as their negative prompt, once per setting and scene) with the members
it names pasted side by side across the middle, whole in view,
held at frame 0 at REFERENCE_STRENGTH (an image condition, as `animate` holds one;
the model blends the pasted edges in the last steps). The motion and the rest come
from the prompt. On a model with a layout input (the bundled world model) the shot is
planned first (engine.layout.planner, from the shot's own words) and each member is pasted
where the plan starts it, not across the middle; the layout moves it from there
(`"plan": false` turns this off). Without a plan, where the shot's words say how each of those
members moves and the camera is static, the looks are held once a second instead, each member
where its motion puts it (engine.scenes.keyframes; `"keyframes": false` turns this off). A shot that
describes a member in its own words gets no reference: the words win, and the check says so. `"references": false`
turns them off, and a
model that cannot animate a still renders from the descriptions alone. No frame of
one shot is held in the next (a cut is a cut); `bridge` transitions are generated
between the last frame of one shot and the first of the next (engine.verbs.bridge).
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from engine import defaults
from engine.datafiles import read_json
from engine.errors import InputError
from engine.provenance.record import FrameRange, ProvenanceRecord, concatenate
from engine.scenes.keyframes import keyframe_conditions
from engine.video import media

CAMERAS = {"static": "", "pan_left": "the camera pans left", "pan_right": "the camera pans right",
           "zoom_in": "the camera zooms in", "zoom_out": "the camera zooms out"}
TRANSITIONS = {"cut": 0.0, "crossfade": 0.5, "bridge": 1.0}  # default seconds
SCENE_KEYS = {"cast", "setting", "aspect", "fps", "seed", "steps", "guidance", "shots", "retries", "title",
              "references", "keyframes", "plan"}
SHOT_KEYS = {"prompt", "seconds", "camera", "transition", "cast", "seed", "setting"}
MAX_SHOTS = 64
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
REFERENCE_STRENGTH = 0.8  # a shot's reference still is held until the noise level falls to 0.2
PLATE_STEPS = 8  # the quick renders a reference still takes its setting from
PLATE_SEEDS = 4  # of which the one most like the others is kept (a stray object is in one, not in most)
CAST_TRIES = 6  # seeds the cast sheet tries per member
MARGIN = 2  # px a pasted member keeps clear of the frame's edges
DEFAULT_RETRIES = 2  # re-renders a shot may have when its cast breaks continuity


@dataclasses.dataclass
class Shot:
    prompt: str  # as written, with {member} placeholders
    text: str  # what the model is asked for
    seconds: float
    camera: str
    transition: str  # how this shot joins the one before: cut, crossfade, bridge
    transition_seconds: float
    members: list  # the cast members the shot shows (checked for continuity)
    seed: int
    named: list = dataclasses.field(default_factory=list)  # members named by {placeholder}: these get references
    setting: str = ""  # where the shot happens ("on the grass"), as written; the reference still's background


@dataclasses.dataclass
class Scene:
    cast: dict
    shots: list
    aspect: str = "16:9"
    fps: float = 24.0
    seed: int = 0
    steps: int = defaults.STEPS
    guidance: float = defaults.GUIDANCE
    retries: int = DEFAULT_RETRIES
    title: str = ""
    references: bool = True
    keyframes: bool = True  # references held once a second where the members' motions are read
    plan: bool = True  # shots holding references are planned (a layout), the references pasted where it starts them


def load_scene(path: str | Path) -> Scene:
    """Read and check a scene file; InputError names the line (bad JSON) or the key."""
    return parse_scene(read_json(path, "scene file"), str(path))  # (a byte-order mark is dropped)


def parse_scene(data, where: str = "scene") -> Scene:
    from engine.request import ASPECTS, MAX_SECONDS  # deferred: loads torch; this module imports without it

    def fail(key: str, msg: str):
        raise InputError(f"{where}: {key}: {msg}")

    if not isinstance(data, dict):
        raise InputError(f"{where}: a scene is a JSON object with 'cast' and 'shots'")
    _unknown(data, SCENE_KEYS, where, "")
    cast = data.get("cast", {})
    if not isinstance(cast, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                             for k, v in cast.items()):
        fail("cast", 'an object of member: description, e.g. {"ball": "the big red ball"}')
    for k in cast:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ -]*", k):
            fail(f"cast.{k}", "member names are letters, digits, spaces, - and _")
    shots = data.get("shots")
    if not isinstance(shots, list) or not shots:
        fail("shots", "a non-empty list of shots, each with a prompt and seconds")
    if len(shots) > MAX_SHOTS:
        fail("shots", f"at most {MAX_SHOTS} shots, got {len(shots)}")
    aspect = data.get("aspect", "16:9")
    if aspect not in ASPECTS:
        fail("aspect", f"unknown aspect {aspect!r}; allowed: {', '.join(ASPECTS)}")
    fps = _number(data.get("fps", 24.0), "fps", fail, 1, 120)
    seed = int(_number(data.get("seed", 0), "seed", fail, 0, 2 ** 31 - 1))
    steps = int(_number(data.get("steps", defaults.STEPS), "steps", fail, 1, 200))
    guidance = _number(data.get("guidance", defaults.GUIDANCE), "guidance", fail, 0, 30)
    retries = int(_number(data.get("retries", DEFAULT_RETRIES), "retries", fail, 0, 10))
    setting = data.get("setting", "")
    if not isinstance(setting, str):
        fail("setting", "a phrase such as 'on the grass'")
    references = data.get("references", True)
    if not isinstance(references, bool):
        fail("references", f"true or false, got {references!r}")
    keyframes = data.get("keyframes", True)
    if not isinstance(keyframes, bool):
        fail("keyframes", f"true or false, got {keyframes!r}")
    planned = data.get("plan", True)
    if not isinstance(planned, bool):
        fail("plan", f"true or false, got {planned!r}")
    out, total = [], 0.0
    for i, s in enumerate(shots):
        key = f"shots[{i}]"
        if not isinstance(s, dict):
            fail(key, "a shot is an object with prompt and seconds")
        _unknown(s, SHOT_KEYS, where, key + ".")
        prompt = s.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            fail(f"{key}.prompt", f"must be text, got {json.dumps(prompt)}; e.g. \"{{ball}} rolls to the right\"")
        if not isinstance(prompt, str) or not prompt.strip():
            fail(f"{key}.prompt", "missing or empty; describe the shot, e.g. '{ball} rolls to the right'")
        named = [m.strip() for m in PLACEHOLDER.findall(prompt)]
        for m in named:
            if m not in cast:
                fail(f"{key}.prompt", f"unknown cast member {{{m}}}; the cast is: {', '.join(cast) or '(empty)'}")
        members = s.get("cast", list(dict.fromkeys(named)))
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            fail(f"{key}.cast", "a list of cast member names")
        for m in members:
            if m not in cast:
                fail(f"{key}.cast", f"unknown cast member {m!r}; the cast is: {', '.join(cast) or '(empty)'}")
        seconds = _number(s.get("seconds", 2.0), f"{key}.seconds", fail, 0.25, MAX_SECONDS)
        camera = s.get("camera", "static")
        if camera not in CAMERAS:
            fail(f"{key}.camera", f"unknown camera {camera!r}; allowed: {', '.join(CAMERAS)}")
        kind, t_sec = _transition(s.get("transition", "cut"), f"{key}.transition", fail)
        if i == 0:
            kind, t_sec = "cut", 0.0
        shot_setting = s.get("setting", setting)
        if not isinstance(shot_setting, str):
            fail(f"{key}.setting", "a phrase such as 'on the grass'")
        text = PLACEHOLDER.sub(lambda mo: cast[mo.group(1).strip()], prompt).strip().rstrip(".")
        text = " ".join(p for p in (text, shot_setting.strip().rstrip(".")) if p)
        if CAMERAS[camera]:
            text += ", " + CAMERAS[camera]
        text = text[:1].upper() + text[1:] + "."
        shot_seed = int(_number(s.get("seed", seed + 1000 * i), f"{key}.seed", fail, 0, 2 ** 31 - 1))
        out.append(Shot(prompt, text, seconds, camera, kind, t_sec, members, shot_seed, list(dict.fromkeys(named)),
                        shot_setting.strip().rstrip(".")))
        total += seconds
    if total > MAX_SECONDS:
        fail("shots", f"the shots last {total:g} s in all; a scene may last at most {MAX_SECONDS:g} s")
    for i, s in enumerate(out[1:], 1):
        if s.transition == "crossfade" and s.transition_seconds >= min(out[i - 1].seconds, s.seconds):
            fail(f"shots[{i}].transition", f"a {s.transition_seconds:g} s crossfade is longer than a shot it joins")
    return Scene(dict(cast), out, aspect, fps, seed, steps, guidance, retries, str(data.get("title", "")), references,
                 keyframes, planned)


def _unknown(d: dict, allowed: set, where: str, prefix: str):
    extra = sorted(set(d) - allowed)
    if extra:
        raise InputError(f"{where}: {prefix}{extra[0]}: unknown key; allowed: {', '.join(sorted(allowed))}")


def _number(v, key, fail, lo, hi) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        fail(key, f"must be a number from {lo:{'d' if isinstance(lo, int) else 'g'}} to "
                  f"{hi:{'d' if isinstance(hi, int) else 'g'}}, got {v!r}")
    return float(v)


def _transition(v, key, fail) -> tuple[str, float]:
    if isinstance(v, str):
        v = {"type": v}
    if not isinstance(v, dict) or v.get("type") not in TRANSITIONS or set(v) - {"type", "seconds"}:
        fail(key, f"one of {', '.join(TRANSITIONS)}, or {{\"type\": ..., \"seconds\": ...}}")
    kind = v["type"]
    seconds = TRANSITIONS[kind] if "seconds" not in v else _number(v["seconds"], key + ".seconds", fail, 0.1, 10)
    return kind, 0.0 if kind == "cut" else seconds


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------

@dataclasses.dataclass
class SceneResult:
    frames: np.ndarray  # the assembled scene at scene.fps
    fps: float
    record: object  # ProvenanceRecord of the assembled scene
    shots: list  # engine.service.Result per shot (the take kept)
    continuity: object  # engine.scenes.continuity.ContinuityReport over the kept takes
    attempts: list  # per shot: the seeds tried
    settings: dict
    cancelled: bool = False
    references: dict = dataclasses.field(default_factory=dict)  # member -> the still its look came from
    # (uint8 H, W, 3; settings["reference_from"] says where: the cast sheet or a shot)


def render_scene(engine, scene: Scene, progress=None, extractor=None, on_shot=None) -> SceneResult:
    """Render every shot, then join them with their transitions. Members keep their look through
    references (see the module's docstring), and the continuity check picks the takes:

    1. In order, each shot is checked against the shots kept before it; while a member it names by
       placeholder breaks, it is rendered again with the next seed.
    2. The whole scene is checked (a member's look is the one most shots share, which the first
       shots could not know). A shot it flags for a member it names is rendered again with its next
       seeds, and a new take is kept only when the scene as a whole breaks less.

    A shot has at most `scene.retries` re-renders over both passes. A member a shot describes in
    its own words (a deliberate change) is reported but never retried: the words win."""
    # deferred: loads OpenCV; this module imports without it
    from engine.scenes.continuity import WorldFeatures, check_continuity

    ex = extractor or WorldFeatures()
    looks = {m: ex.expected(d) for m, d in scene.cast.items()}
    refer = scene.references and "animate" in engine.pipe.verbs
    refs, ref_from = {}, {}  # member -> (frame, its pixels); member -> where it was found
    if refer:
        refs, ref_from = cast_sheet(engine, scene, ex, looks, progress)
        if refs is None:
            return _cancelled(scene, [], [])
    n = len(scene.shots)
    kept, attempts, checked, held_in = [None] * n, [[] for _ in range(n)], [None] * n, [[] for _ in range(n)]
    plates = {}  # setting -> its plate, rendered once per scene

    def shot_take(i: int, again: bool):
        """Shot i with its next seed and the members it held: (Result or None when stopped, held)."""
        shot = scene.shots[i]
        k = len(attempts[i])
        attempts[i].append(shot.seed + 7919 * k)

        def part(frac, stage, info=None):
            if progress is not None:
                where = f"shot {i + 1}/{n}" + (", again for continuity" if again else "")
                progress((n if again else i + frac) / (n + 1), f"{where}: {stage}", info)
        return _attempt(engine, scene, shot, attempts[i][-1], [m for m in shot.named if m in refs], refs, part,
                        plates)

    def broken(report, i: int) -> int:
        """Problems of shot i's members that it names (the ones a new seed should fix)."""
        return sum(len(c.problems) for c in report.checks if c.shot == i and c.member in scene.shots[i].named)

    # 1. shot by shot, against the shots before
    for i, shot in enumerate(scene.shots):
        best = None
        while len(attempts[i]) <= scene.retries:
            res, held = shot_take(i, False)
            if res is None:
                return _cancelled(scene, [k for k in kept if k is not None], attempts)
            report = check_continuity(scene.cast, checked[:i] + [(res.frames, shot.members, shot.text)], ex)
            problems = broken(report, i)
            if best is None or problems < best[0]:
                best = (problems, res, report, held)
            if problems == 0:
                break
        _, take, report, held_in[i] = best
        if refer:  # the first take that keeps a named member as wanted lends it its look
            for c in report.checks:
                if c.shot == i and c.ok and c.member in shot.named and c.member not in refs:
                    found = ex.locate(take.frames, looks[c.member])
                    if found is not None:
                        refs[c.member], ref_from[c.member] = found, f"shot {i + 1}"
        kept[i], checked[i] = take, (take.frames, shot.members, shot.text)
        if on_shot is not None:
            on_shot(i, take)
    # 2. the whole scene: shots it flags, again while they have retries left
    report = check_continuity(scene.cast, checked, ex)
    for i in report.broken_shots:
        shot = scene.shots[i]
        while broken(report, i) and len(attempts[i]) <= scene.retries:
            res, held = shot_take(i, True)
            if res is None:
                return _cancelled(scene, kept, attempts)
            trial = checked[:i] + [(res.frames, shot.members, shot.text)] + checked[i + 1:]
            new = check_continuity(scene.cast, trial, ex)
            if _breaks(new) < _breaks(report):
                kept[i], checked[i], report, held_in[i] = res, trial[i], new, held
                if on_shot is not None:
                    on_shot(i, res)
    frames, record = assemble(engine, scene, kept, progress)
    settings = {"scene": scene.title, "cast": scene.cast, "fps": scene.fps, "aspect": scene.aspect,
                "seed": scene.seed, "steps": scene.steps, "guidance": scene.guidance, "references": refer,
                "keyframes": refer and scene.keyframes, "plan": refer and scene.plan and engine.takes_layout,
                "reference_from": ref_from,
                "shots": [{"prompt": s.prompt, "text": s.text, "seconds": s.seconds, "camera": s.camera,
                           "transition": s.transition, "transition_seconds": s.transition_seconds,
                           "seeds_tried": t, "seed": r.settings["seed"], "references": h,
                           "keyframes": sum(c["type"] == "clip" for c in r.settings.get("conditions", [])),
                           "planned": bool(r.settings.get("layout"))}
                          for s, t, r, h in zip(scene.shots, attempts, kept, held_in)], "model": engine.pipe.name}
    return SceneResult(frames, scene.fps, record, kept, report, attempts, settings,
                       references={m: frame for m, (frame, _) in refs.items()})


def plate_prompt(setting: str) -> str:
    """What a reference still's background is rendered from: the shot's setting with nobody in it (the
    cast's descriptions are the negative prompt). A plate of the shot's own prompt kept a slow member
    in its median, and the pasted look then met a second copy of itself."""
    return f"An empty scene {setting}." if setting else "An empty scene."


def _breaks(report) -> tuple[int, int]:
    """How much a scene breaks: shots broken, then problems in all."""
    return len(report.broken_shots), sum(len(c.problems) for c in report.checks)


def _attempt(engine, scene: Scene, shot: Shot, seed: int, held: list, refs: dict, progress, plates: dict):
    """One take of a shot: (Result, members held) or (None, held) when stopped. With members to hold,
    the take holds their looks on the shot's setting (`plate`, kept in `plates` for the scene's
    other shots): where the shot's words move them, once a second (engine.scenes.keyframes), else as a
    still at frame 0."""
    from engine.request import BASE_FPS, GenerateRequest  # deferred: loads torch; this module imports without it
    from engine.sampling.conditioning import ImageCondition

    req = GenerateRequest(shot.text, seconds=shot.seconds, fps=scene.fps, aspect=scene.aspect, seed=seed,
                          steps=scene.steps, guidance=scene.guidance)
    share = PLATE_SEEDS * PLATE_STEPS / (PLATE_SEEDS * PLATE_STEPS + scene.steps) \
        if held and shot.setting not in plates else 0.0
    if held:
        if shot.setting not in plates:
            background = plate(engine, scene, shot.setting, lambda f, stage, info=None: progress(share * f, stage,
                                                                                                 info))
            if background is None:
                return None, held
            plates[shot.setting] = background
        looks = [refs[m] for m in held]
        planned = planned_starts(engine, scene, req, held) if scene.plan else None
        keys = None
        if planned is not None:  # the plan moves them; the still shows who they are, where the plan starts them
            req.layout = planned[0]
            still = placed_still(plates[shot.setting], looks, planned[1])
        else:
            still = reference_still(plates[shot.setting], looks)
            if scene.keyframes and shot.camera == "static":
                keys = keyframe_conditions(plates[shot.setting], looks, shot.prompt, held, engine.base_frames(req),
                                           BASE_FPS, REFERENCE_STRENGTH, engine.temporal_ratio, engine.time_patch)
        req.conditions = keys or [ImageCondition(still, 0, REFERENCE_STRENGTH)]
    res = engine.generate(req, lambda f, stage, info=None: progress(share + (1 - share) * f, stage, info))
    return (None if res.cancelled else res), held


def planned_starts(engine, scene: Scene, req, held: list):
    """(the shot's planned layout, each held member's start centre (x, y) in screen units), or None where the
    model takes no layout or the plan has no object of a held member's colour and shape."""
    if not engine.takes_layout:
        return None
    layout = engine.plan(req)
    if layout is None:
        return None
    from engine.scenes.continuity import WorldFeatures  # deferred: loads OpenCV; this module imports without it

    ex, free, starts = WorldFeatures(), list(range(len(layout.objects))), []
    for m in held:
        want = ex.expected(scene.cast[m])
        match = [k for k in free if layout.objects[k].colour == want.colour
                 and want.shape in (None, layout.objects[k].shape)]
        if want.colour is None or not match:
            return None
        free.remove(match[0])
        x, y, _ = layout.objects[match[0]].at([0.0])[0]
        starts.append((float(x), float(y)))
    return layout, starts


def placed_still(background: np.ndarray, looks: list[tuple[np.ndarray, np.ndarray]], starts: list) -> np.ndarray:
    """Members' looks ((frame, bool pixels) each) pasted on `background` centred on their `starts` ((x, y) in
    screen units: 0..1 from the left and the top), each whole in view (MARGIN px clear of the edges)."""
    H, W = background.shape[:2]
    placed = []
    for (frame, pixels), (x, y) in zip(looks, starts):
        x0, x1, y0, y1 = box = _box(pixels)
        placed.append((frame, pixels, *_in_view(box, round(x * W - 0.5 - (x0 + x1) / 2),
                                                round(y * H - 0.5 - (y0 + y1) / 2), W, H)))
    return paste(background, placed)


def plate(engine, scene: Scene, setting: str, progress=None) -> np.ndarray | None:
    """The setting with nobody in it, for reference stills: PLATE_SEEDS quick renders of `plate_prompt`
    (the cast's descriptions as the negative prompt), each reduced to its temporal median, and of
    those the one closest to their per-pixel median. A model asked for an empty scene still draws a
    stray object now and then; it lands in one render, not in most, so the one kept has none. (A
    median of the renders themselves would be as clean on the world, but a blur of several
    compositions on a real model.) None when stopped."""
    from engine.request import GenerateRequest  # deferred: loads torch; this module imports without it

    stills = []
    for k in range(PLATE_SEEDS):
        def part(frac, stage, info=None, k=k):
            if progress is not None:
                progress((k + frac) / PLATE_SEEDS, f"setting, try {k + 1} of {PLATE_SEEDS}: {stage}", info)
        req = GenerateRequest(plate_prompt(setting), seconds=1.0, fps=scene.fps, aspect=scene.aspect,
                              seed=scene.seed + 15485863 * (k + 1), steps=PLATE_STEPS, guidance=scene.guidance,
                              negative=", ".join(scene.cast.values()))
        res = engine.generate(req, part)
        if res.cancelled:
            return None
        stills.append(np.median(res.frames, 0))
    middle = np.median(np.stack(stills), 0)
    return stills[int(np.argmin([np.abs(p - middle).mean() for p in stills]))].astype(np.uint8)


def cast_sheet(engine, scene: Scene, ex, looks: dict, progress=None):
    """A reference for every member a shot names by placeholder, before the first shot: the member
    alone ("<description> stays still.", one second), up to CAST_TRIES seeds, until the extractor
    sees it as described (its colour in most frames, the shape the description names, and a size
    within SIZE_TOLERANCE of the one it names) and finds it whole. Failing that, the try closest
    to the description (its shape, then its size, then how long it showed) becomes the reference,
    scaled to the size the description names. Returns (member -> (frame, pixels), member -> where
    from), members never seen whole left out (their first kept shot may lend their look instead),
    or (None, None) when stopped."""
    from engine.request import GenerateRequest  # deferred: loads torch and OpenCV; this module imports without it
    from engine.scenes.continuity import SIZE_TOLERANCE

    named = list(dict.fromkeys(m for shot in scene.shots for m in shot.named))
    refs, where = {}, {}
    min_present = ex.min_present
    for mi, m in enumerate(named):
        want, text = looks[m], scene.cast[m].strip().rstrip(".")
        best = None  # (how close to the description, its reference, its extent): seen whole, not as described
        for k in range(CAST_TRIES):
            def part(frac, stage, info=None, m=m, k=k):
                if progress is not None:
                    progress(0.0, f"cast sheet: {m}, try {k + 1} of {CAST_TRIES}: {stage}", info)
            req = GenerateRequest(text[:1].upper() + text[1:] + " stays still.", seconds=1.0, fps=scene.fps,
                                  aspect=scene.aspect, seed=scene.seed + 104729 * (k + 1) + mi, steps=scene.steps,
                                  guidance=scene.guidance)
            res = engine.generate(req, part)
            if res.cancelled:
                return None, None
            seen = ex.observe(res.frames, want)
            found = ex.locate(res.frames, want) if seen.present >= min_present else None
            if found is None:
                continue
            shape_ok = not want.shape or seen.shape == want.shape
            off = abs(np.log(seen.extent / want.extent)) if want.extent and seen.extent else 0.0
            if shape_ok and off < np.log(SIZE_TOLERANCE):
                refs[m], where[m] = found, "cast sheet"
                break
            closeness = (shape_ok, -off, seen.present)
            if best is None or closeness > best[0]:
                best = (closeness, found, seen.extent)
        else:
            if best is not None:  # one look held in every shot beats a look that changes shot to shot
                found, extent = best[1], best[2]
                if want.extent and extent:
                    found = scaled_look(*found, want.extent / extent)
                refs[m], where[m] = found, "cast sheet, not as described"
    return refs, where


def scaled_look(frame: np.ndarray, pixels: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """A member's look ((frame, bool pixels)) made `factor` times larger or smaller about its centre."""
    import cv2  # deferred: OpenCV is heavy; this module imports without it

    H, W = pixels.shape
    ys, xs = np.nonzero(pixels)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    M = np.float32([[factor, 0, cx * (1 - factor)], [0, factor, cy * (1 - factor)]])
    frame2 = cv2.warpAffine(frame, M, (W, H), flags=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    pixels2 = cv2.warpAffine(pixels.astype(np.uint8), M, (W, H), flags=cv2.INTER_NEAREST) > 0
    return frame2, pixels2


def reference_still(background: np.ndarray, looks: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Members' looks ((frame, bool pixels) each) pasted side by side across the middle of `background`,
    in the order given, with equal gaps between them and the edges, so that they do not cover each
    other where they fit. Where they do not, the smaller ones go in front, and every member stays
    whole in view (MARGIN px clear of the edges), since one cut by the frame is one the model drops."""
    H, W = background.shape[:2]
    boxes = [_box(pixels) for _, pixels in looks]
    widths = [x1 - x0 + 1 for x0, x1, _, _ in boxes]
    gap = (W - sum(widths)) / (len(looks) + 1)  # negative when they cannot fit: they overlap evenly
    placed, left = [], gap
    for (frame, pixels), (x0, x1, y0, y1), w in zip(looks, boxes, widths):
        placed.append((frame, pixels, *_in_view((x0, x1, y0, y1), round(left - x0), round(H / 2 - (y0 + y1) / 2),
                                                W, H)))
        left += w + gap
    return paste(background, placed)


def paste(background: np.ndarray, placed: list) -> np.ndarray:
    """`background` with each (frame, bool pixels, dx, dy) look moved by (dx, dy) and pasted, the
    largest first, the smallest on top."""
    out = background.copy()
    for frame, pixels, dx, dy in sorted(placed, key=lambda p: -p[1].sum()):
        where = _shift(pixels, dx, dy, fill=False)
        out[where] = _shift(frame, dx, dy)[where]
    return out


def _box(pixels: np.ndarray) -> tuple:
    """(x0, x1, y0, y1): the inclusive pixel bounds of a look's bool pixels."""
    ys, xs = np.nonzero(pixels)
    return xs.min(), xs.max(), ys.min(), ys.max()


def _in_view(box: tuple, dx: int, dy: int, W: int, H: int) -> tuple[int, int]:
    """(dx, dy) kept so that `box` moved by them stays whole in a W x H frame, MARGIN px clear of the edges."""
    x0, x1, y0, y1 = box
    return _within(dx, MARGIN - x0, W - 1 - MARGIN - x1), _within(dy, MARGIN - y0, H - 1 - MARGIN - y1)


def _within(shift: int, lo: int, hi: int) -> int:
    """`shift` kept in [lo, hi]; the middle of the two when a member is too large for both."""
    return int(np.clip(shift, lo, hi)) if lo <= hi else round((lo + hi) / 2)


def _shift(a: np.ndarray, dx: int, dy: int, fill=None) -> np.ndarray:
    """`a` moved right by dx and down by dy; what comes in repeats the edge (or is `fill`)."""
    H, W = a.shape[:2]
    ys, xs = np.arange(H) - dy, np.arange(W) - dx
    out = a[np.clip(ys, 0, H - 1)][:, np.clip(xs, 0, W - 1)]
    if fill is not None:
        out = out.copy()
        out[(ys < 0) | (ys >= H)] = fill
        out[:, (xs < 0) | (xs >= W)] = fill
    return out


def _cancelled(scene, kept, attempts):
    from engine.scenes.continuity import ContinuityReport  # deferred: loads OpenCV; this module imports without it

    return SceneResult(np.zeros((0, 1, 1, 3), np.uint8), scene.fps, None, kept, ContinuityReport("none", [], {}),
                       attempts, {}, cancelled=True)


def assemble(engine, scene: Scene, takes: list, progress=None):
    """Join the kept takes: cut, crossfade (the shots overlap by its length) or a bridge
    generated from one shot's last frame to the next one's first."""
    from engine import verbs  # deferred: loads torch; this module imports without it

    fps = scene.fps
    frames, record = takes[0].frames, takes[0].record
    for i, (shot, take) in enumerate(zip(scene.shots[1:], takes[1:]), 1):
        if shot.transition == "cut":
            frames = np.concatenate([frames, take.frames])
            record = concatenate([record, take.record], fps)
        elif shot.transition == "crossfade":
            k = max(1, round(shot.transition_seconds * fps))
            k = min(k, len(frames) - 1, len(take.frames) - 1)
            w = ((np.arange(k) + 1) / (k + 1))[:, None, None, None]
            mix = np.round(frames[-k:] * (1 - w) + take.frames[:k] * w).astype(np.uint8)
            fade = ProvenanceRecord([FrameRange(0, k, "transition", details={"type": "crossfade",
                                                                             "between_shots": [i, i + 1]})], fps)
            frames = np.concatenate([frames[:-k], mix, take.frames[k:]])
            record = concatenate([record.slice(0, record.frame_count - k), fade,
                                  take.record.slice(k, take.record.frame_count)], fps)
        else:  # bridge
            n_a, n_b = max(2, round(fps)), max(2, round(fps))
            a = media.Video.from_frames(frames[-n_a:], fps)
            b = media.Video.from_frames(take.frames[:n_b], fps)
            # what the model made carries its record: it is the model's own to join (engine.verbs.own_world)
            a.metadata = {**(a.metadata or {}), "provenance": record.slice(record.frame_count - len(a),
                                                                             record.frame_count)}
            b.metadata = {**(b.metadata or {}), "provenance": take.record.slice(0, len(b))}

            def part(frac, stage, info=None, i=i):
                if progress is not None:
                    progress((len(scene.shots) + frac) / (len(scene.shots) + 1), f"bridge {i}/{i + 1}: {stage}", info)
            br = verbs.bridge(engine, a, b, seconds=shot.transition_seconds, prompt=shot.text, seed=shot.seed + 17,
                              steps=scene.steps, guidance=scene.guidance, progress=part)
            mid = br.frames[1:-1]
            mid_rec = br.record.slice(1, br.record.frame_count - 1)
            frames = np.concatenate([frames, mid, take.frames])
            record = concatenate([record, ProvenanceRecord(mid_rec.ranges, fps, mid_rec.decisions), take.record], fps)
    return frames, record
