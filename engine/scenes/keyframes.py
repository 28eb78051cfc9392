"""Keyframes for a scene's shots: each member a shot names, pasted where its words put it, once a second.

A reference still at frame 0 shows the model what a member looks like, but not that it is
still there a second later: the bundled model dropped a small member after frame 1 in most
takes of the hardest shots (docs/BENCHMARKS.md, session 12). So a shot whose members' motions
can all be read gets a keyframe every KEY_SECONDS: the setting's plate with each member's look
pasted where its motion puts it at that moment (WORLD.md's motions at the world's own rates: a
mover crosses 0.4 of the frame a second, a bouncer lands once a second, an orbit takes two),
held on the frames of one transformer token (so a keyframe is a short clip, the member already
moving) at the reference's strength. The model draws every frame between, and the last steps
blend the pasted edges. A motion that cannot be read, or a moving camera (the world shifts under
a pan or a zoom), leaves the shot with its frame-0 still alone: a keyframe in the wrong place is
worse than none.

Reading a motion: the world's own phrasings first (engine.world.captioner.MOTION_WORDS), then
word stems of each motion (MOTION_CUES) in what is left; the words of one member are the prompt
from its {placeholder} up to the next one (`member_words`). Two motions in one member's words
("moves left, then right") read as none.
"""
from __future__ import annotations

import math
import re

import numpy as np

from engine.world import scene as world
from engine.world.captioner import MOTION_WORDS, SPEED_WORDS

KEY_SECONDS = 1.0  # a keyframe this often, plus one on the shot's last frames
EDGE = 0.02  # of the frame: what a mover keeps clear of the edges at the ends of its path
MOTION_CUES = {
    "right": r"right|rightwards?",
    "left": r"left|leftwards?",
    "up": r"up|upwards?|rises|rising|rise|rose|ascend\w*|climb\w*|floats?|floating|lifts?|lifting",
    "down": r"down|downwards?|falls?|falling|fell|drops?|dropping|sinks?|sinking|sank|descend\w*|plung\w*",
    "bounce": r"bounc\w*|hops?|hopping|jumps?|jumping",
    "orbit": r"circles?|circling|orbits?|orbiting|around",
    "grow": r"grows?|growing|bigger|larger|expands?|expanding|swells?|swelling",
    "shrink": r"shrinks?|shrinking|smaller|contracts?|contracting|dwindl\w*",
    "still": r"still|rests?|resting|sits?|sitting|motionless|stationary|idle|static",
}


def _phrases(table: dict) -> list[tuple[str, str]]:
    """(phrase, motion), longest first, from a captioner table (pairs of verb and gerund, or words)."""
    pairs = []
    for canon, entries in table.items():
        for e in entries:
            for p in (e if isinstance(e, tuple) else (e,)):
                pairs.append((p.lstrip("~").lower(), canon))
    return sorted(pairs, key=lambda p: -len(p[0]))


_MOTION_PHRASES = _phrases(MOTION_WORDS)
_SPEED_PHRASES = _phrases(SPEED_WORDS)


def member_words(prompt: str, member: str) -> str:
    """The words of `prompt` (with {member} placeholders) that are about `member`: from its first
    placeholder up to the next one, or on to the one after when only a conjunction stands between
    ("{ball} and {box} rest": both rest)."""
    m = re.search(r"\{\s*" + re.escape(member) + r"\s*\}", prompt)
    if m is None:
        return ""
    parts = re.split(r"\{[^{}]*\}", prompt[m.end():])
    for part in parts:
        if not re.fullmatch(r"[\s,&]*(and|or|with|as well as|together with|both)?[\s,&]*", part.lower()):
            return part
    return ""


def read_motion(words: str) -> tuple[str, str] | None:
    """(motion, speed) that `words` give one member (WORLD.md's motions; speed slowly, normal or
    quickly), or None when they name no motion or more than one."""
    text = " " + re.sub(r"[^a-z]+", " ", words.lower()) + " "
    speed = next((s for p, s in _SPEED_PHRASES if f" {p} " in text), "normal")
    hits = set()
    for p, motion in _MOTION_PHRASES:  # a phrase read is taken out, so "bounces up and down" is no "up"
        if f" {p} " in text:
            hits.add(motion)
            text = text.replace(f" {p} ", " | ")
    hits |= {k for k, rx in MOTION_CUES.items() if re.search(r" (" + rx + r") ", text)}
    return (hits.pop(), speed) if len(hits) == 1 else None


def paths(motions: list[tuple[str, str]], extents: list[tuple[float, float]], seconds: float, aspect: float):
    """Per member, t (seconds) -> (x, y, scale): its centre as a fraction of the frame's width and
    height, and its size relative to its look. `extents`: each look's half width and half height
    (fractions of the frame). Members keep to their own lanes, (k + 1) / (n + 1) across the frame,
    so that they do not cover each other where their motions allow."""
    n = len(motions)
    m_w, m_h = min(1.0, 1 / aspect), min(1.0, aspect)  # the short side, in widths and in heights
    out = []
    for k, ((motion, speed), (hw, hh)) in enumerate(zip(motions, extents)):
        lane, rate = (k + 1) / (n + 1), world.SPEEDS[speed]
        v = world.TRAVEL_PER_SECOND * rate
        if motion in ("right", "left", "up", "down"):
            half = hw if motion in ("right", "left") else hh
            lo, span = half + EDGE, max(1e-6, 1 - 2 * (half + EDGE))
            d = v * seconds
            start = 0.5 - d / 2 if d <= span else lo  # a path that fits is centred; a longer one wraps
            sign = 1 if motion in ("right", "down") else -1
            if sign < 0:
                start = 1 - start

            def along(t, start=start, lo=lo, span=span, sign=sign, v=v):
                p = start - lo + sign * v * t  # along the path from its low end; past an end it wraps
                return lo + (p if 0 <= p <= span else p % span)
            out.append((lambda t, a=along, lane=lane: (a(t), lane, 1.0)) if motion in ("right", "left")
                       else (lambda t, a=along, lane=lane: (lane, a(t), 1.0)))
        elif motion == "bounce":
            out.append(lambda t, lane=lane, hh=hh, rate=rate: (
                lane,
                world.GROUND - hh - world.BOUNCE_HEIGHT * abs(math.sin(math.pi * t * rate / world.BOUNCE_PERIOD_S)),
                1.0))
        elif motion == "orbit":  # counter-clockwise, members spread around the circle
            def orbit(t, k=k, rate=rate):
                a = 2 * math.pi * (t * rate / world.ORBIT_PERIOD_S + k / n)
                return 0.5 + world.ORBIT_RADIUS * m_w * math.cos(a), 0.5 - world.ORBIT_RADIUS * m_h * math.sin(a), 1.0
            out.append(orbit)
        elif motion in ("grow", "shrink"):  # the world's 0.7x to 1.6x of the named size, or back
            def scale(t, motion=motion, rate=rate):
                p = min(t * rate / world.GROW_SECONDS, 1.0)
                return 0.7 * world.GROW_RATIO ** p if motion == "grow" else 1.6 * world.GROW_RATIO ** -p
            out.append(lambda t, lane=lane, s=scale: (lane, lane, s(t)))
        else:  # still
            out.append(lambda t, lane=lane: (lane, lane, 1.0))
    return out


def key_frames(n: int, fps: float, ratio: int = 1, time_patch: int = 1) -> list[list[int]]:
    """The frames of the tokens keyframes are held on, in an n-frame clip at `fps`: one token every
    KEY_SECONDS from frame 0, and the clip's last token. Each is the list of frames of one token
    (engine.sampling.conditioning.still_frames), none shared."""
    from engine.sampling.conditioning import still_frames  # deferred: loads torch; this module imports without it

    starts = sorted({round(i * KEY_SECONDS * fps) for i in range(int((n - 1) / fps / KEY_SECONDS) + 1)} | {n - 1})
    out, taken = [], set()
    for s in starts:
        frames = [f for f in still_frames(s, n, ratio, time_patch) if f not in taken]
        if frames:
            out.append(frames)
            taken.update(frames)
    return out


def place(background: np.ndarray, looks: list, where: list[tuple[float, float, float]]) -> np.ndarray:
    """`background` with each look ((frame, bool pixels)) pasted with its centre at (x, y) (fractions of
    the frame) at `scale` times its size, whole in view (engine.scenes.scene.MARGIN px clear of the edges);
    the largest first, the smallest on top (engine.scenes.scene.paste)."""
    # deferred: engine.scenes.scene imports this module (cycle)
    from engine.scenes.scene import MARGIN, _within, paste, scaled_look

    H, W = background.shape[:2]
    placed = []
    for (frame, pixels), (x, y, s) in zip(looks, where):
        if abs(s - 1.0) > 1e-3:
            frame, pixels = scaled_look(frame, pixels, s)
        ys, xs = np.nonzero(pixels)
        if not len(xs):
            continue
        x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
        dx = _within(round(x * W - (x0 + x1) / 2), MARGIN - x0, W - 1 - MARGIN - x1)
        dy = _within(round(y * H - (y0 + y1) / 2), MARGIN - y0, H - 1 - MARGIN - y1)
        placed.append((frame, pixels, dx, dy))
    return paste(background, placed)


def keyframe_conditions(background: np.ndarray, looks: list, prompt: str, members: list[str], n: int, fps: float,
                        strength: float, ratio: int = 1, time_patch: int = 1):
    """Clip conditions holding `members` (with `looks`, in that order) where `prompt`'s words move
    them, one short clip per keyframe token; None when a member's motion cannot be read."""
    from engine.sampling.conditioning import ClipCondition  # deferred: loads torch; this module imports without it

    motions = [read_motion(member_words(prompt, m)) for m in members]
    if not members or any(mo is None for mo in motions):
        return None
    H, W = background.shape[:2]
    extents = []
    for _, pixels in looks:
        ys, xs = np.nonzero(pixels)
        extents.append(((xs.max() - xs.min() + 1) / W / 2, (ys.max() - ys.min() + 1) / H / 2))
    ways = paths(motions, extents, (n - 1) / fps, W / H)
    conds = []
    for frames in key_frames(n, fps, ratio, time_patch):
        clip = np.stack([place(background, looks, [w(f / fps) for w in ways]) for f in frames])
        conds.append(ClipCondition(clip, frames[0], strength))
    return conds
