"""The animatic of a shot: its planned layout (engine.layout) drawn as coloured boxes over the background, at
once and without the model, so a filmmaker sees where things will go before spending a render on it. The
render plans the same layout (same prompt, duration, aspect and seed), so the take follows what was shown.

Files are kept in the project (media/<project>/animatics/<shot>-<key>.mp4, the key a digest of what the plan
depends on), so a card redraws without planning again; a shot whose prompt names no object the planner can
place, or a model without a prompt reader (LTX, Wan), has no animatic. A shot whose motion was directed
(studio.panels.motion) plays that instead of the plan."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from engine.errors import InputError
from engine.layout.direct import conform, to_layout
from engine.layout.planner import draw
from engine.video import media
from studio.jobs import shot_request
from studio.scene import expand

ANIMATIC_FPS = 12.0  # smooth enough to read motion, half the files of 24


def plan_for(studio, pid: str, shot: dict):
    """(request, layout or None) of a saved shot as the default model would plan it (its prompt's plan, not
    its directed motion: see shot_layout)."""
    engine = studio.engines()
    shot = {**shot, "prompt": expand(shot["prompt"], studio.store.cast(pid))}
    req = shot_request(shot, shot["seed"], fps=ANIMATIC_FPS)
    if not req.prompt.strip() or engine.reading(req.prompt) is None:
        return req, None
    return req, engine.plan(req)


def shot_layout(studio, pid: str, shot: dict):
    """(request, layout or None) a shot renders: its directed motion (engine.layout.direct) when it has one,
    else its prompt's plan."""
    if shot.get("motion"):
        req = shot_request(shot, shot["seed"], fps=ANIMATIC_FPS)
        return req, to_layout(json.loads(shot["motion"]), float(shot["seconds"]))
    return plan_for(studio, pid, shot)


def keep_motion(studio, pid: str, old: dict, new: dict) -> None:
    """After a shot's edit (`old` -> the saved `new`), its directed motion follows (engine.layout.direct.conform):
    times scaled to a new duration, a changed colour or shape taken from the new plan, dropped when the new plan
    has other objects, or when the shot now animates a still."""
    if not old.get("motion"):
        return
    if new.get("start_image"):
        studio.store.update_shot(new["id"], motion=None)
        return
    if all(old.get(k) == new.get(k) for k in ("prompt", "seconds", "aspect", "camera")):
        return
    try:
        plan = plan_for(studio, pid, new)[1]
    except InputError:
        plan = None
    kept = conform(json.loads(old["motion"]), plan, float(old["seconds"]), float(new["seconds"]))
    studio.store.update_shot(new["id"], motion=json.dumps(kept) if kept else None)


def animatic(studio, pid: str, shot: dict) -> tuple[str, str] | None:
    """(project-relative path of the shot's animatic MP4, what was planned), drawing it when it is missing;
    None when there is nothing to plan."""
    if not (shot.get("prompt") or "").strip() or shot.get("start_image"):
        return None  # a still to animate decides where things are; the planner does not
    store = studio.store
    key = hashlib.sha1(json.dumps([shot["prompt"], shot.get("camera") or "", float(shot["seconds"]), shot["aspect"],
                                   int(shot["seed"]), sorted(store.cast(pid).items()), shot.get("motion")]
                                  ).encode()).hexdigest()[:12]
    folder = store.media(pid, "animatics")
    path = folder / f"{shot['id']}-{key}.mp4"
    note = folder / f"{shot['id']}-{key}.txt"
    if not path.exists():
        req, layout = shot_layout(studio, pid, shot)
        if layout is None:
            return None
        w, h = req.canvas()
        frames = draw(layout, w, h, np.arange(max(2, round(req.duration() * ANIMATIC_FPS))) / ANIMATIC_FPS,
                      seed=req.seed, boxes_only=True)
        for old in folder.glob(f"{shot['id']}-*"):  # one animatic per shot: the plan it has now
            old.unlink(missing_ok=True)
        note.write_text(layout.describe(), encoding="utf-8")
        media.write_video(str(path), frames, ANIMATIC_FPS)
    return store.rel(path), note.read_text(encoding="utf-8") if note.exists() else ""
