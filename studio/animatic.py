"""The animatic of a shot: its planned layout (engine.layout) drawn as coloured boxes over the background, at
once and without the model, so a filmmaker sees where things will go before spending a render on it. The
render plans the same layout (same prompt, duration, aspect and seed), so the take follows what was shown.

Files are kept in the project (media/<project>/animatics/<shot>-<key>.mp4, the key a digest of what the plan
depends on), so a card redraws without planning again; a shot whose prompt names no object the planner can
place, or a model without a prompt reader (LTX, Wan), has no animatic."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from engine.layout.planner import draw
from engine.video import media
from studio.jobs import shot_request

ANIMATIC_FPS = 12.0  # smooth enough to read motion, half the files of 24


def plan_for(studio, pid: str, shot: dict):
    """(request, layout or None) of a saved shot as the default model would plan it."""
    from studio.scene import expand

    engine = studio.engines()
    shot = {**shot, "prompt": expand(shot["prompt"], studio.store.cast(pid))}
    req = shot_request(shot, shot["seed"], fps=ANIMATIC_FPS)
    if not req.prompt.strip() or engine.reading(req.prompt) is None:
        return req, None
    return req, engine.plan(req)


def animatic(studio, pid: str, shot: dict) -> tuple[str, str] | None:
    """(project-relative path of the shot's animatic MP4, what was planned), drawing it when it is missing;
    None when there is nothing to plan."""
    if not (shot.get("prompt") or "").strip() or shot.get("start_image"):
        return None  # a still to animate decides where things are; the planner does not
    store = studio.store
    key = hashlib.sha1(json.dumps([shot["prompt"], shot.get("camera") or "", float(shot["seconds"]), shot["aspect"],
                                   int(shot["seed"]), sorted(store.cast(pid).items())]).encode()).hexdigest()[:12]
    folder = store.media(pid, "animatics")
    path = folder / f"{shot['id']}-{key}.mp4"
    note = folder / f"{shot['id']}-{key}.txt"
    if not path.exists():
        req, layout = plan_for(studio, pid, shot)
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
