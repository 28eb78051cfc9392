"""What each kind of job does: turn a saved job into engine calls and the results into takes.

Kinds: shot (text or still to video), loop, extend, remix, bridge, fill, inpaint.
The editing verbs live in `engine.verbs`; the studio passes each only the
keyword arguments its signature takes, so a verb can grow options freely.
"""
from __future__ import annotations

import inspect

import numpy as np

from engine import media
from engine.errors import InputError
from engine.provenance import (Generation, ProvenanceRecord, enforce, load_policy, watermark_record_frames)
from engine.service import BASE_FPS, GenerateRequest

_POLICY = None


def call_verb(name: str, *args, **kwargs):
    """Call engine.verbs.<name>, passing only the keyword arguments it takes."""
    from engine import verbs

    fn = getattr(verbs, name)
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return fn(*args, **kwargs)


def policy():
    global _POLICY
    if _POLICY is None:
        _POLICY = load_policy(None)
    return _POLICY


# --------------------------------------------------------------------------
# Saving takes
# --------------------------------------------------------------------------

def save_take(store, project_id, shot_id, frames, fps, record: ProvenanceRecord, settings: dict, kind: str,
              label: str = "", cancelled: bool = False, mark: bool = True) -> str:
    """Watermark what the model made, write the MP4 + sidecar into the project, add the take row."""
    from studio.project import new_id

    if len(frames) == 0:
        raise InputError("the job was stopped before the first frame was made; nothing to keep")
    if record.frame_count != len(frames):
        record = ProvenanceRecord.uniform("generated", len(frames), fps, generation=_generation(settings))
    record.fps = float(fps)
    if mark:
        try:
            frames = watermark_record_frames(frames, record)
        except Exception:  # tiny frames or a missing backend: the C2PA record still says what made them
            pass
    tid = new_id("t")
    path = store.media(project_id, "takes") / f"{tid}.mp4"
    media.write_output(str(path), frames, fps, sidecar={"settings": settings, "provenance": record.to_dict()})
    store.add_take(project_id, shot_id, path, kind, settings, record.to_dict(), len(frames), fps, cancelled, label,
                   take_id=tid)
    return tid


def _generation(settings: dict) -> Generation:
    clean = {k: v for k, v in settings.items() if isinstance(v, (str, int, float, bool, type(None)))}
    return Generation(model=str(settings.get("model", "unknown")), prompt=str(settings.get("prompt", "")),
                      seed=settings.get("seed"), settings=clean)


def record_of(result, fallback) -> ProvenanceRecord:
    """The result's own record when it has one that fits its frames, else `fallback()`."""
    rec = getattr(result, "record", None)
    p = result.provenance
    if rec is None and isinstance(p, ProvenanceRecord):
        rec = p
    elif rec is None and isinstance(p, dict) and "ranges" in p:
        rec = ProvenanceRecord.from_dict(p)
    elif rec is None and isinstance(p, list) and p and "kind" in p[0]:
        rec = ProvenanceRecord.from_dict({"ranges": p, "fps": result.fps})
    if rec is not None and rec.frame_count == len(result.frames):
        return rec
    return fallback()


def take_video(store, take: dict) -> media.Video:
    return media.read_video(store.path(take["path"]))


def take_record(take: dict) -> ProvenanceRecord:
    if take["provenance"] and take["provenance"].get("ranges"):
        return ProvenanceRecord.from_dict(take["provenance"])
    return ProvenanceRecord.uniform("generated", take["frames"], take["fps"], generation=_generation(take["settings"]))


def load_still(store, rel: str | None) -> np.ndarray | None:
    if not rel:
        return None
    from PIL import Image

    with Image.open(store.path(rel)) as im:
        return np.asarray(im.convert("RGB"))


# --------------------------------------------------------------------------
# Running a job
# --------------------------------------------------------------------------

def shot_request(shot: dict, seed: int, loop: bool = False) -> GenerateRequest:
    prompt = shot["prompt"].strip()
    if shot.get("camera", "").strip() and prompt:
        prompt = f"{prompt}, {shot['camera'].strip()}"
    return GenerateRequest(prompt=prompt, negative=shot.get("negative") or "", seconds=float(shot["seconds"]),
                           fps=BASE_FPS, aspect=shot["aspect"], seed=int(seed), steps=int(shot["steps"]),
                           guidance=float(shot["guidance"]), loop=loop)


def run_job(store, engine, job: dict, progress):
    """Run one job; returns (new take ids, cancelled)."""
    p, pid, kind = job["params"], job["project_id"], job["kind"]
    return RUNNERS[kind](store, engine, pid, p, progress)


def _run_shot(store, engine, pid, p, progress, loop=False):
    from engine.conditioning import ImageCondition

    shot = store.shot(p["shot_id"]) if "shot_id" in p else None
    if p.get("settings"):  # a take's saved settings (loop, re-render)
        shot = {**(shot or {}), **{k: v for k, v in p["settings"].items() if k in (
            "prompt", "negative", "seconds", "aspect", "seed", "steps", "guidance")}, "camera": ""}
    req = shot_request(shot, p.get("seed", shot["seed"]), loop=loop or p.get("loop", False))
    for rel, idx in ((shot.get("start_image"), 0), (shot.get("end_image"), -1)):
        img = load_still(store, rel)
        if img is not None:
            req.conditions.append(ImageCondition(img, idx))
    req.validate()
    enforce(req.prompt, policy())
    result = engine.generate(req, progress)
    settings = {**result.settings, "shot_prompt": shot["prompt"], "camera": shot.get("camera", ""),
                "start_image": shot.get("start_image"), "end_image": shot.get("end_image")}
    rec = record_of(result, lambda: ProvenanceRecord.generated(len(result.frames), _generation(settings),
                                                               result.fps))
    kind = "loop" if req.loop else ("animate" if shot.get("start_image") else "generate")
    tid = save_take(store, pid, shot.get("id"), result.frames, result.fps, rec, settings, kind,
                    p.get("label", ""), result.cancelled)
    return [tid], result.cancelled


def _run_loop(store, engine, pid, p, progress):
    take = store.take(p["take_id"])
    return _run_shot(store, engine, pid, {"shot_id": take["shot_id"], "settings": take["settings"],
                                          "seed": take["settings"].get("seed", 0), "label": p.get("label")},
                     progress, loop=True) if take["shot_id"] else _no_shot()


def _no_shot():
    raise InputError("looping re-renders a shot; this take has no shot (use Remix instead)")


def _edit_settings(take, kind, **extra):
    base = {k: v for k, v in take["settings"].items() if isinstance(v, (str, int, float, bool, type(None)))}
    return {**base, **extra, "verb": kind, "source_take": take["id"]}


def _verb_take(store, pid, take, result, kind, settings, fallback_record, label=""):
    rec = record_of(result, fallback_record)
    tid = save_take(store, pid, take["shot_id"], result.frames, result.fps, rec, settings, kind, label,
                    result.cancelled, mark=False)
    return [tid], result.cancelled


def _run_extend(store, engine, pid, p, progress):
    take = store.take(p["take_id"])
    prompt = p.get("prompt") or take["settings"].get("prompt", "")
    enforce(prompt, policy())
    video = take_video(store, take)
    result = call_verb("extend", engine, video, seconds=float(p["seconds"]), backward=bool(p.get("backward")),
                       prompt=prompt, seed=int(p.get("seed", 0)), steps=int(p.get("steps", 24)), progress=progress)
    settings = _edit_settings(take, "extend", seconds_added=p["seconds"], backward=bool(p.get("backward")),
                              prompt=prompt, model=engine.pipe.name)
    src = take_record(take)

    def fallback():
        n_new = len(result.frames) - src.frame_count
        gen = ProvenanceRecord.generated(max(1, n_new), _generation(settings), result.fps)
        parts = [gen, src] if p.get("backward") else [src, gen]
        from engine.provenance import concatenate
        return concatenate([ProvenanceRecord(r.ranges, result.fps) for r in parts], result.fps)
    return _verb_take(store, pid, take, result, "extend", settings, fallback, p.get("label", ""))


def _run_remix(store, engine, pid, p, progress):
    take = store.take(p["take_id"])
    enforce(p["prompt"], policy())
    video = take_video(store, take)
    result = call_verb("remix", engine, video, p["prompt"], strength=float(p["strength"]), seed=int(p.get("seed", 0)),
                       steps=int(p.get("steps", 24)), progress=progress)
    settings = _edit_settings(take, "remix", prompt=p["prompt"], strength=p["strength"], model=engine.pipe.name)
    return _verb_take(store, pid, take, result, "remix", settings,
                      lambda: ProvenanceRecord.generated(len(result.frames), _generation(settings), result.fps),
                      p.get("label", ""))


def _run_bridge(store, engine, pid, p, progress):
    a, b = store.take(p["take_id"]), store.take(p["to_take_id"])
    prompt = p.get("prompt") or f"{a['settings'].get('prompt', '')}, then {b['settings'].get('prompt', '')}"
    enforce(prompt, policy())
    result = call_verb("bridge", engine, take_video(store, a), take_video(store, b), seconds=float(p["seconds"]),
                       prompt=prompt, seed=int(p.get("seed", 0)), steps=int(p.get("steps", 24)), progress=progress)
    settings = _edit_settings(a, "bridge", to_take=b["id"], prompt=prompt, seconds=p["seconds"], model=engine.pipe.name)
    rec = lambda: ProvenanceRecord.uniform("transition", len(result.frames), result.fps,  # noqa: E731
                                           generation=_generation(settings))
    tids, cancelled = _verb_take(store, pid, a, result, "bridge", settings, rec, p.get("label", ""))
    if p.get("entry_id") and not cancelled:
        store.update_entry(p["entry_id"], bridge_take_id=tids[0], transition="bridge")
    return tids, cancelled


def parse_ranges(text: str, n: int) -> list[tuple[int, int]]:
    """'3-5, 9' -> [(3, 5), (9, 9)]: inclusive, 0-based, inside 0..n-1 (CLI.md `fill --frames`)."""
    out = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            a, b = (part.split("-", 1) + [None])[:2] if "-" in part else (part, part)
            a, b = int(a), int(b)
        except ValueError:
            raise InputError(f"frame range {part!r} is not A-B; use e.g. 10-14, 30") from None
        if not (0 <= a <= b < n):
            raise InputError(f"frame range {part!r} is outside the clip (frames 0-{n - 1})")
        out.append((a, b))
    return out


def _run_fill(store, engine, pid, p, progress):
    take = store.take(p["take_id"])
    prompt = p.get("prompt") or take["settings"].get("prompt", "") or "the same scene"
    enforce(prompt, policy())
    video = take_video(store, take)
    ranges = [tuple(r) for r in p.get("ranges") or []] or None  # None: the verb detects and fills
    result = call_verb("fill", engine, video, ranges, prompt=prompt, seed=int(p.get("seed", 0)),
                       steps=int(p.get("steps", 24)), progress=progress)
    settings = _edit_settings(take, "fill", ranges=str(ranges), prompt=prompt, model=engine.pipe.name)

    def fallback():
        rec = take_record(take)
        if rec.frame_count != len(result.frames):
            return ProvenanceRecord.uniform("inpainted", len(result.frames), result.fps,
                                            generation=_generation(settings))
        for a, b in ranges or result.settings.get("ranges", []):
            rec = rec.mark(a, b + 1, "inpainted", generation=_generation(settings))
        return rec
    return _verb_take(store, pid, take, result, "fill", settings, fallback, p.get("label", ""))


def _run_inpaint(store, engine, pid, p, progress):
    take = store.take(p["take_id"])
    enforce(p["prompt"], policy())
    from PIL import Image

    with Image.open(store.path(p["mask"])) as im:
        mask = np.asarray(im.convert("L")) > 127
    video = take_video(store, take)
    result = call_verb("inpaint", engine, video, mask, p["prompt"], seed=int(p.get("seed", 0)),
                       steps=int(p.get("steps", 24)), progress=progress)
    settings = _edit_settings(take, "inpaint", prompt=p["prompt"], mask=p["mask"], model=engine.pipe.name)
    return _verb_take(store, pid, take, result, "inpaint", settings,
                      lambda: ProvenanceRecord.uniform("inpainted", len(result.frames), result.fps,
                                                       generation=_generation(settings)), p.get("label", ""))


RUNNERS = {"shot": _run_shot, "loop": _run_loop, "extend": _run_extend, "remix": _run_remix, "bridge": _run_bridge,
           "fill": _run_fill, "inpaint": _run_inpaint}
