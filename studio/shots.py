"""A shot as the storyboard's editor holds it, without the page: its fields' defaults and checks, its stills kept
in the project, and its start image framed on the shot's canvas (studio.framing). The storyboard panel
(studio.panels.storyboard) shows these; the API and the tests call them through it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import defaults
from engine.errors import InputError
from engine.video.media import UnreadableImage, open_image
from studio.framing import framed, said
from studio.jobs import shot_request
from studio.naming import ok
from studio.project import new_id
from studio.uploads import discard_upload

DEFAULTS = {"prompt": "", "negative": "", "seconds": 2.0, "aspect": "16:9", "seed": 0, "camera": "", "takes": 1,
            "steps": defaults.STEPS, "guidance": defaults.GUIDANCE, "start_image": None, "end_image": None}
EDIT_KEYS = ("prompt", "negative", "seconds", "aspect", "seed", "camera", "takes", "steps", "guidance",
             "start_image", "end_image")


def editor_values(studio, shot: dict | None) -> list:
    s = {**DEFAULTS, **(shot or {})}
    imgs = [str(studio.store.path(s[k])) if s[k] else None for k in ("start_image", "end_image")]
    return [s["prompt"], s["negative"], s["seconds"], s["aspect"], s["seed"], s["camera"], s["takes"], s["steps"],
            s["guidance"], *imgs]


def framing(studio, shot: dict | None) -> list:
    """The saved shot's fit, its start image as framed and what that does (studio.framing)."""
    fit = (shot or {}).get("fit") or "crop"
    if not shot or not shot.get("start_image"):
        return [fit, None, ""]
    return [fit, *framing_preview(str(studio.store.path(shot["start_image"])), shot["aspect"], fit)]


def framing_preview(path, aspect, fit) -> list:
    """[the still on the shot's canvas, what happens to it]; nothing for no still or one that cannot be read."""
    if not path:
        return [None, ""]
    try:
        img = np.asarray(open_image(path, Path(path).name).convert("RGB"))
    except (UnreadableImage, InputError, OSError):
        return [None, ""]
    return [framed(img, aspect, fit), ok(said(img, aspect, fit))]


def check_fields(studio, pid, values) -> dict:
    f = dict(zip(EDIT_KEYS, values))
    f["prompt"] = (f["prompt"] or "").strip()
    try:
        f["seconds"] = float(f["seconds"]) if f["seconds"] is not None else 0.0
        f["seed"] = int(f["seed"] or 0)
        f["takes"], f["steps"], f["guidance"] = int(f["takes"]), int(f["steps"]), float(f["guidance"])
    except (TypeError, ValueError):
        raise InputError("duration, seed, takes and steps must be numbers") from None
    if not 1 <= f["takes"] <= 4:
        raise InputError("a shot has 1 to 4 takes")
    if not 0 <= f["seed"] <= defaults.MAX_SEED - (f["takes"] - 1):
        raise InputError(f"seed must be a whole number from 0 to {defaults.MAX_SEED - (f['takes'] - 1)} "
                         f"(with {f['takes']} takes: take k renders with seed + k - 1)")
    for key in ("start_image", "end_image"):
        f[key] = keep_still(studio, pid, f[key])
    shot_request({**f, "camera": f["camera"] or ""}, f["seed"]).validate()
    return f


def keep_still(studio, pid, path):
    """A still the user gave, decoded and checked, kept in the project (or None). A path already among this
    project's stills (a saved shot's) stays as it is; anything else (an upload) is decoded, checked and copied
    in, so the project owns its stills and nothing is kept that is not a readable image of a sane size."""
    if not path:
        return None
    store = studio.store
    try:
        if store.inside(path).parent == store.media(pid, "stills"):
            return store.rel(path)
    except InputError:
        pass
    name = Path(path).name
    try:  # upright as taken, 16-bit grey scaled, its size read from the header before decoding
        img = open_image(path, name).convert("RGB")
    except UnreadableImage:
        discard_upload(path)
        raise InputError(f"{name} is not an image this studio can read (PNG or JPEG)") from None
    except InputError:  # too large to read
        discard_upload(path)
        raise
    dst = store.media(pid, "stills") / f"{new_id('i')}.png"
    img.save(dst)
    return store.rel(dst)
