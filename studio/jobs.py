"""What each kind of job does: turn a saved job into engine calls and the results into takes.

Kinds: shot (text or still to video), scene (the whole storyboard, studio.scene), loop, extend, remix,
bridge, fill, inpaint. A shot that needs more than one window renders through engine.longtake: window by
window into a partial MP4 the card plays while it grows, checkpointed, so a stopped or interrupted take
resumes when the same shot is rendered again with the same settings.
Every kind makes new takes, except fill and inpaint: they make a preview
(`save_preview`) that the user compares with the source and then applies as a
new take or discards; a job's result lists the take or preview ids it made.
The editing verbs live in `engine.verbs`; the studio passes each only the
keyword arguments its signature takes, so a verb can grow options freely.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import time
from pathlib import Path

import numpy as np
from PIL import Image

from engine import verbs
from engine.errors import InputError
from engine.families.cli import validate
from engine.families.estimate import estimate
from engine.layout.direct import to_layout
from engine.provenance import Generation, ProvenanceRecord, concatenate, enforce, load_policy
from engine.provenance.publish import mark, publish, sealer
from engine.request import BASE_FPS, WINDOW_FRAMES, GenerateRequest
from engine.sampling.conditioning import ImageCondition
from engine.scenes.scene import render_scene
from engine.verbs import mask_region, still_layout
from engine.video import media
from engine.video.retime import retime
from studio.framing import framed
from studio.project import new_id
from studio.scene import check, expand

_POLICY = None
PREVIEW_ID = re.compile(r"v[0-9a-f]{10}")


def call_verb(name: str, *args, **kwargs):
    """Call engine.verbs.<name>, passing only the keyword arguments it takes."""
    fn = getattr(verbs, name)
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    try:
        return fn(*args, **kwargs)
    except verbs.CameraFootage as e:
        if name not in ("extend", "bridge", "remix", "animate"):  # fill says it its own way (studio.panels.fill)
            raise
        raise _in_page_words(e, name) from None


def _own_world(engine, frames, verb: str) -> None:
    try:
        verbs.own_world(engine, frames, verb)
    except verbs.CameraFootage as e:
        raise _in_page_words(e, verb) from None


def _in_page_words(e, verb: str) -> InputError:
    """A world model's refusal of camera footage (engine.verbs.CameraFootage) in the page's words."""
    return InputError(f"{e.reason}; to {verb} camera footage, add a real checkpoint (LTX-Video, Wan) under Model "
                      "and pick it")


def policy():
    global _POLICY
    if _POLICY is None:
        _POLICY = load_policy(None)
    return _POLICY


# --------------------------------------------------------------------------
# Saving takes
# --------------------------------------------------------------------------

def save_take(store, project_id, shot_id, frames, fps, record: ProvenanceRecord, settings: dict, kind: str,
              label: str = "", cancelled: bool = False, mark: bool = True, sign=None, audio_from=None,
              audio_start=None) -> str:
    """Watermark what the model made, write the MP4 + sidecar into the project, add the take row.
    sign: a config folder whose C2PA signer signs the MP4 (the studio signs every take; None: unsigned).
    audio_from, audio_start: the clip whose sound the take keeps under its frames (media.write_video)."""
    tid = new_id("t")
    path = store.media(project_id, "takes") / f"{tid}.mp4"
    frames, record = _write(path, frames, fps, record, settings, mark, audio_from=audio_from, audio_start=audio_start,
                            sign=sign)
    store.add_take(project_id, shot_id, path, kind, settings, record.to_dict(), len(frames), fps, cancelled, label,
                   take_id=tid)
    return tid


def _write(path, frames, fps, record: ProvenanceRecord, settings: dict, mark: bool, region=None, audio_from=None,
           audio_start=None, sign=None, **extra):
    """The MP4 and its sidecar (settings, per-frame provenance, and `extra`); returns (frames, record) written.
    A take made from a clip with sound keeps that sound (issue 32); the sidecar says where it came from."""
    if len(frames) == 0:
        raise InputError("the job was stopped before the first frame was made; nothing to keep")
    if record.frame_count != len(frames):
        record = ProvenanceRecord.uniform("generated", len(frames), fps, generation=_generation(settings))
    record.fps = float(fps)
    if audio_from is not None and audio_from.has_audio:
        extra["audio"] = {"from": "camera" if settings.get("source_file") else "take",
                          "source_file": settings.get("source_file") or "", "source_take": settings.get("source_take")}
    sidecar = {"settings": settings, **extra}
    # tiny frames or a missing backend stay unmarked: the C2PA record still says what made them
    _, frames = publish(str(path), frames, fps, record, sidecar, region=region, best_effort=True, signer=sign,
                        audio_from=audio_from, audio_start=audio_start, marked=mark)
    return frames, record


def _mark(frames, record):
    """A long take's window marked as every take is (engine.provenance.publish.mark, best effort)."""
    return mark(frames, record, best_effort=True)


def _sign(path, record: ProvenanceRecord, config_dir) -> None:
    """Sign a finished file in place (a long take, moved into the project once whole)."""
    sealer(record, config_dir)(path)


# --------------------------------------------------------------------------
# Previews: a fill or repaint is looked at before it becomes a take
# --------------------------------------------------------------------------
#   media/<project>/pending/<preview id>.mp4 (+ .mp4.json: settings, provenance, and "preview": kind,
#   source take, shot, frames, fps, cancelled). Applying moves the file into takes/ as a new take;
#   discarding deletes it. The source take is never touched either way.

def _preview_path(store, project_id: str, preview_id: str):
    if not PREVIEW_ID.fullmatch(preview_id or ""):
        raise InputError("no preview to apply; run Fill frames or Inpaint region first")
    return store.media(project_id, "pending") / f"{preview_id}.mp4"


def save_preview(store, project_id, source: dict, frames, fps, record: ProvenanceRecord, settings: dict, kind: str,
                 cancelled: bool = False, region=None, sign=None, audio_from=None) -> str:
    """A fill or inpaint result waiting for Apply or Discard. It is watermarked and signed (`sign`: the
    signer's config folder) now, since Apply moves the file into takes/ as it is; `region`: inpaint's
    painted pixels, the only ones marked."""
    vid = new_id("v")
    path = _preview_path(store, project_id, vid)
    frames, record = _write(path, frames, fps, record, settings, mark=True, region=region, audio_from=audio_from,
                            sign=sign, preview={
        "kind": kind, "source_take": source["id"], "shot_id": source["shot_id"], "frames": len(frames),
        "fps": float(fps), "cancelled": bool(cancelled), "created": time.time()})
    return vid


def preview(store, project_id: str, preview_id: str) -> dict:
    """{"id", "path", "settings", "provenance", "kind", "source_take", ...} of a pending preview."""
    path = _preview_path(store, project_id, preview_id)
    try:
        side = json.loads(Path(f"{path}.json").read_text())
    except FileNotFoundError:
        raise InputError("that preview is gone (applied or discarded already)") from None
    return {**side["preview"], "id": preview_id, "path": str(path), "settings": side["settings"],
            "provenance": side["provenance"]}


def previews(store, project_id: str, source_take: str | None = None) -> list[dict]:
    """Pending previews of a project (of one source take), oldest first."""
    folder = store.root / "media" / project_id / "pending"
    out = [preview(store, project_id, p.name.removesuffix(".mp4.json")) for p in folder.glob("v*.mp4.json")]
    out = [p for p in out if source_take is None or p["source_take"] == source_take]
    return sorted(out, key=lambda p: p["created"])


def apply_preview(store, project_id: str, preview_id: str) -> str:
    """The preview becomes a new take (its file moved, not re-encoded); returns the take id."""
    p = preview(store, project_id, preview_id)
    src = Path(p["path"])
    tid = new_id("t")
    dst = store.media(project_id, "takes") / f"{tid}.mp4"
    Path(f"{dst}.json").write_text(json.dumps({"settings": p["settings"], "provenance": p["provenance"]}, indent=1,
                                              default=str) + "\n")
    src.replace(dst)
    store.add_take(project_id, p["shot_id"], dst, p["kind"], p["settings"], p["provenance"], p["frames"], p["fps"],
                   p["cancelled"], take_id=tid)
    Path(f"{src}.json").unlink(missing_ok=True)
    return tid


def discard_preview(store, project_id: str, preview_id: str) -> None:
    path = Path(preview(store, project_id, preview_id)["path"])
    Path(f"{path}.json").unlink(missing_ok=True)
    path.unlink(missing_ok=True)


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
    """A take's frames for an engine verb, carrying the take's own per-frame record: the verb keeps what
    made each frame it leaves alone (an uploaded clip's frames stay camera frames of the uploaded file, a
    generated take's stay generated) instead of calling the take's file camera footage."""
    video = media.read_video(store.path(take["path"]))
    rec = take_record(take)
    if rec.frame_count == len(video):
        video.metadata = {**(video.metadata or {}), "provenance": rec}
    return video


def take_record(take: dict) -> ProvenanceRecord:
    if take["provenance"] and take["provenance"].get("ranges"):
        return ProvenanceRecord.from_dict(take["provenance"])
    return ProvenanceRecord.uniform("generated", take["frames"], take["fps"], generation=_generation(take["settings"]))


def load_still(store, rel: str | None) -> np.ndarray | None:
    if not rel:
        return None
    with Image.open(store.path(rel)) as im:
        return np.asarray(im.convert("RGB"))


# --------------------------------------------------------------------------
# Running a job
# --------------------------------------------------------------------------

def shot_request(shot: dict, seed: int, loop: bool = False, fps: float = BASE_FPS) -> GenerateRequest:
    """The shot as a request at `fps` (the engine's `take_fps`: the bundled model's base rate)."""
    prompt = shot["prompt"].strip()
    if shot.get("camera", "").strip() and prompt:
        prompt = f"{prompt}, {shot['camera'].strip()}"
    return GenerateRequest(prompt=prompt, negative=shot.get("negative") or "", seconds=float(shot["seconds"]),
                           fps=fps, aspect=shot["aspect"], seed=int(seed), steps=int(shot["steps"]),
                           guidance=float(shot["guidance"]), loop=loop)


def run_job(store, engine, job: dict, progress, config_dir=None):
    """Run one job; returns (new take ids, cancelled). config_dir: the C2PA signer's folder: every take (and
    every fill or inpaint preview) is signed as the CLI signs its outputs."""
    p, pid, kind = job["params"], job["project_id"], job["kind"]
    return RUNNERS[kind](store, engine, pid, p, progress, config_dir=config_dir)


def _shot_and_request(store, engine, pid, p, loop=False):
    """The shot a shot (or loop) job renders, and its request before stills and motion are added."""
    shot = store.shot(p["shot_id"]) if "shot_id" in p else None
    if p.get("settings"):  # a take's saved settings (loop, re-render)
        shot = {**(shot or {}), **{k: v for k, v in p["settings"].items() if k in (
            "prompt", "negative", "seconds", "aspect", "seed", "steps", "guidance")}, "camera": ""}
    else:  # the shot as written: its {member}s become the cast's descriptions
        shot = {**shot, "shot_prompt": shot["prompt"], "prompt": expand(shot["prompt"], store.cast(pid))}
    return shot, shot_request(shot, p.get("seed", shot["seed"]), loop=loop or p.get("loop", False),
                              fps=engine.take_fps)


def _run_shot(store, engine, pid, p, progress, loop=False, config_dir=None):
    shot, req = _shot_and_request(store, engine, pid, p, loop)
    for rel, idx in ((shot.get("start_image"), 0), (shot.get("end_image"), -1)):
        img = load_still(store, rel)
        if img is not None:
            if shot.get("fit") == "letterbox":  # whole, with bars (studio.framing); the default crops to fill
                img = framed(img, req.aspect, "letterbox")
            _own_world(engine, img[None], "animate")  # a world model draws into its own world's stills only
            req.conditions.append(ImageCondition(img, idx))
            if idx == 0 and not req.loop:  # the still's objects, moved as the prompt's plan moves them
                req.layout = still_layout(engine, req, img)
    if shot.get("motion") and not p.get("settings") and not req.conditions and not req.loop and engine.takes_layout:
        req.layout = to_layout(json.loads(shot["motion"]), req.seconds)  # the directed paths (studio.panels.motion)
    req.validate()
    enforce(req.prompt, policy())
    if long_take(engine, req):
        return _run_long_shot(store, engine, pid, shot, req, p, progress, config_dir)
    result = engine.generate(req, progress)
    settings = {**result.settings, "shot_prompt": shot.get("shot_prompt", shot["prompt"]),
                "camera": shot.get("camera", ""), "start_image": shot.get("start_image"),
                "end_image": shot.get("end_image")}
    rec = record_of(result, lambda: ProvenanceRecord.generated(len(result.frames), _generation(settings),
                                                               result.fps))
    kind = "loop" if req.loop else ("animate" if shot.get("start_image") else "generate")
    tid = save_take(store, pid, shot.get("id"), result.frames, result.fps, rec, settings, kind,
                    p.get("label", ""), result.cancelled, sign=config_dir)
    return [tid], result.cancelled


def long_take(engine, req: GenerateRequest) -> bool:
    """Whether a shot streams through engine.longtake: it needs more than one window and can stream, in this
    process or on the farm (its windows come home one by one: `take_windows`, docs/FARM.md)."""
    from engine import longtake  # deferred: loads diffusers; this module imports without it

    if not (engine.local or hasattr(engine, "take_windows")) or not longtake.streamable(engine, req):
        return False
    return engine.window_count(req) > 1


def long_take_path(store, pid, shot: dict, engine, req: GenerateRequest):
    """Where a long take renders: one path per shot and settings, so rendering the same take again finds its
    checkpoint (OUT.render/) and resumes; finished, the file moves into takes/ and the checkpoint goes."""
    s = {k: v for k, v in engine.settings(req).items() if k not in ("dtype", "device", "processor")}
    s.update(shot=shot.get("id"), model_folder=str(getattr(engine, "model_path", "")),
             stills=[shot.get("start_image"), shot.get("end_image")])
    key = hashlib.sha256(json.dumps(s, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return store.long_take_file(pid, shot.get("id"), key)


def _run_long_shot(store, engine, pid, shot, req, p, progress, config_dir):
    """engine.longtake.render_take into the take's path: the card plays OUT.partial.mp4 as windows finish
    (progress.note), Stop keeps the finished windows as a partial take and leaves the checkpoint."""
    from engine import longtake  # deferred: loads diffusers; this module imports without it

    out = long_take_path(store, pid, shot, engine, req)
    note = getattr(progress, "note", None) or (lambda **kw: None)
    seen = {"info": None, "done": 0, "total": 0}

    def prog(fraction, stage, info=None):
        if info is not None:
            seen["info"] = info
        progress(fraction, stage, info)

    def on_window(done, total, partial):
        seen["done"], seen["total"] = done, total
        note(stage=f"window {done}/{total}", partial={"project_id": pid, "shot_id": shot.get("id"),
                                                      "path": str(partial), "window": done, "windows": total})

    resuming = longtake.checkpoint_dir(out).is_dir()
    if resuming:
        note(stage="resuming the unfinished take from its last finished window")
    # where the windows render: in this process, or on the farm (studio.farm.pool.FarmEngine.take_windows)
    kw = dict(on_window=on_window, watermark=_mark, windows=getattr(engine, "take_windows", None))
    try:
        try:
            take = longtake.render_take(engine, req, out, prog, **kw)
        except longtake.CheckpointMismatch:
            # a checkpoint these settings cannot use (another model version): start this take over
            take = longtake.render_take(engine, req, out, prog, resume=False, **kw)
    finally:
        note(partial=None)
    kind = "animate" if shot.get("start_image") else "generate"
    settings = {**take.settings, "shot_prompt": shot.get("shot_prompt", shot["prompt"]),
                "camera": shot.get("camera", ""), "start_image": shot.get("start_image"),
                "end_image": shot.get("end_image"), "long_take": True, "windows": take.windows,
                "resumed_from_window": take.resumed_from}
    if not take.cancelled:
        tid = new_id("t")
        dst = store.media(pid, "takes") / f"{tid}.mp4"
        record = take.record
        record.fps = float(take.fps)
        _sidecar(dst, {"settings": settings, "provenance": record.to_dict(), "frames": take.frames,
                       "render_seconds": round(take.seconds, 2), "resumed_from_window": take.resumed_from})
        os.replace(take.path, dst)
        if config_dir is not None:
            _sign(dst, record, config_dir)
        store.add_take(pid, shot.get("id"), dst, kind, settings, record.to_dict(), take.frames, take.fps, False,
                       p.get("label", ""), take_id=tid)
        return [tid], False
    # Stopped: the finished windows (already watermarked) are the partial take; the checkpoint stays, so
    # rendering this take again resumes. Stopped inside the first window: the sampler's current estimate.
    settings["windows_done"] = max(seen["done"], take.resumed_from)
    if take.frames > 0:
        video = media.read_video(take.path)
        rec = take.record if take.record is not None and take.record.frame_count == len(video) else \
            ProvenanceRecord.generated(len(video), _generation(settings), take.fps)
        frames, mark = video.frames, False
    else:
        info = seen["info"]
        if info is None or getattr(info, "denoised", None) is None:
            raise InputError("the job was stopped before the first frame was made; nothing to keep")
        base = engine.preview(info.denoised)
        frames, _ = retime(base, BASE_FPS, req.fps)
        rec, mark = ProvenanceRecord.generated(len(frames), _generation(settings), req.fps), True
    tid = save_take(store, pid, shot.get("id"), frames, req.fps, rec, settings, kind, p.get("label", ""),
                    cancelled=True, mark=mark, sign=config_dir)
    return [tid], True


def _sidecar(path, data: dict) -> None:
    tmp = f"{path}.json.part"
    with open(tmp, "w") as fh:
        fh.write(media._sidecar_text(data))
    os.replace(tmp, f"{path}.json")


def _run_scene(store, engine, pid, p, progress, config_dir=None):
    """The storyboard as one scene (engine.scenes.scene.render_scene): each shot's kept take under its card as it
    is kept, then the assembled scene as a take of its own, with the continuity report in its settings."""
    # checked when queued; again here, since a restart re-runs the saved scene; at the model's own rate
    scene = check({**p["scene"], "fps": engine.take_fps})
    for s in scene.shots:
        enforce(s.text, policy())
    shot_ids = list(p.get("shot_ids") or [])
    alive = {s["id"] for s in store.shots(pid)}
    made, kept = [], {}  # every take saved; shot index -> the take the scene keeps

    def on_shot(i, res):
        shot = scene.shots[i]
        sid = shot_ids[i] if i < len(shot_ids) and shot_ids[i] in alive else None
        settings = {**res.settings, "shot_prompt": shot.prompt, "camera": shot.camera, "scene_shot": i + 1,
                    "scene": scene.title, "cast": {m: scene.cast[m] for m in shot.members}}
        rec = record_of(res, lambda: ProvenanceRecord.generated(len(res.frames), _generation(settings), res.fps))
        again = ", again for continuity" if i in kept else ""  # the whole-scene check chose a new take
        kept[i] = save_take(store, pid, sid, res.frames, res.fps, rec, settings, "scene",
                            f"scene shot {i + 1}/{len(scene.shots)}{again}", sign=config_dir)
        made.append(kept[i])

    result = render_scene(engine, scene, progress, on_shot=on_shot)
    if result.cancelled:
        return made, True
    report = result.continuity
    settings = {**result.settings, "prompt": f"scene: {scene.title or f'{len(scene.shots)} shots'}",
                "seed": scene.seed, "continuity": report.to_dict(), "continuity_summary": report.summary(),
                "shot_takes": [kept[i] for i in range(len(scene.shots))], "shot_ids": shot_ids,
                "cast_sheet": _save_cast_sheet(store, pid, result)}
    rec = result.record or ProvenanceRecord.generated(len(result.frames), _generation(settings), result.fps)
    tid = save_take(store, pid, None, result.frames, result.fps, rec, settings, "scene", p.get("label", "scene"),
                    sign=config_dir)
    return [*made, tid], False


def _save_cast_sheet(store, pid, result) -> dict:
    """The stills the scene took its members' looks from, as PNGs in the project:
    {member: {"image": path in the project, "from": "cast sheet" | "shot N" | ...}}."""
    sheet = {}
    for member, frame in result.references.items():
        path = store.media(pid, "cast") / f"{new_id('c')}.png"
        Image.fromarray(np.ascontiguousarray(frame)).save(path)
        sheet[member] = {"image": store.rel(path), "from": result.settings.get("reference_from", {}).get(member, "")}
    return sheet


def _run_loop(store, engine, pid, p, progress, config_dir=None):
    take = store.take(p["take_id"])
    return _run_shot(store, engine, pid, _loop_params(take, p), progress, loop=True,
                     config_dir=config_dir) if take["shot_id"] else _no_shot()


def _loop_params(take: dict, p: dict) -> dict:
    """A loop job re-renders its take's shot with the take's own settings."""
    return {"shot_id": take["shot_id"], "settings": take["settings"], "seed": take["settings"].get("seed", 0),
            "label": p.get("label")}


def _no_shot():
    raise InputError("looping re-renders a shot; this take has no shot (use Remix instead)")


def _edit_settings(take, kind, **extra):
    base = {k: v for k, v in take["settings"].items() if isinstance(v, (str, int, float, bool, type(None)))}
    return {**base, **extra, "verb": kind, "source_take": take["id"]}


def _path_taken(result) -> dict:
    """What a verb's result says of the way it went (the footage's tracks it followed, how a remix was made), kept
    in its take's settings so the take's card says it (studio.cards)."""
    return {k: result.settings[k] for k in ("tracks", "remix_method") if result.settings.get(k)}


def _verb_take(store, pid, take, result, kind, settings, fallback_record, label="", sign=None, audio_from=None,
               audio_start=None):
    rec = record_of(result, fallback_record)
    settings = {**settings, **_path_taken(result)}
    tid = save_take(store, pid, take["shot_id"], result.frames, result.fps, rec, settings, kind, label,
                    result.cancelled, mark=False, sign=sign, audio_from=audio_from, audio_start=audio_start)
    return [tid], result.cancelled


def _verb_preview(store, pid, take, result, kind, settings, fallback_record, region=None, sign=None,
                  audio_from=None):
    """Fill and inpaint make a preview (the job's result is its id); the user applies or discards it. Both keep
    the clip's time, so its sound (`audio_from`) stays under the same frames, the fixed ones included."""
    rec = record_of(result, fallback_record)
    settings = {**settings, **_path_taken(result)}
    return [save_preview(store, pid, take, result.frames, result.fps, rec, settings, kind, result.cancelled,
                         region, sign=sign, audio_from=audio_from)], result.cancelled


def _run_extend(store, engine, pid, p, progress, config_dir=None):
    take = store.take(p["take_id"])
    prompt = p.get("prompt") or take["settings"].get("prompt", "")
    enforce(prompt, policy())
    video = take_video(store, take)
    result = call_verb("extend", engine, video, seconds=float(p["seconds"]), backward=bool(p.get("backward")),
                       prompt=prompt, seed=int(p.get("seed", 0)), steps=int(p.get("steps", 24)), progress=progress)
    settings = _edit_settings(take, "extend", seconds_added=p["seconds"], backward=bool(p.get("backward")),
                              prompt=prompt, model=engine.model_name)
    src = take_record(take)

    def fallback():
        n_new = len(result.frames) - src.frame_count
        gen = ProvenanceRecord.generated(max(1, n_new), _generation(settings), result.fps)
        parts = [gen, src] if p.get("backward") else [src, gen]
        return concatenate([ProvenanceRecord(r.ranges, result.fps) for r in parts], result.fps)
    # the clip's sound stays under its own frames; the new ones are silent (before it, going backward)
    added = len(result.frames) / result.fps - len(video) / video.fps
    start = float(video.timestamps[0]) - (added if p.get("backward") else 0.0)
    return _verb_take(store, pid, take, result, "extend", settings, fallback, p.get("label", ""), sign=config_dir,
                      audio_from=video, audio_start=start)


def _run_remix(store, engine, pid, p, progress, config_dir=None):
    take = store.take(p["take_id"])
    enforce(p["prompt"], policy())
    video = take_video(store, take)
    result = call_verb("remix", engine, video, p["prompt"], strength=float(p["strength"]), seed=int(p.get("seed", 0)),
                       steps=int(p.get("steps", 24)), progress=progress)
    settings = _edit_settings(take, "remix", prompt=p["prompt"], strength=p["strength"], model=engine.model_name)
    return _verb_take(store, pid, take, result, "remix", settings,
                      lambda: ProvenanceRecord.generated(len(result.frames), _generation(settings), result.fps),
                      p.get("label", ""), sign=config_dir, audio_from=video)


def _run_bridge(store, engine, pid, p, progress, config_dir=None):
    a, b = store.take(p["take_id"]), store.take(p["to_take_id"])
    prompt = p.get("prompt") or f"{a['settings'].get('prompt', '')}, then {b['settings'].get('prompt', '')}"
    enforce(prompt, policy())
    result = call_verb("bridge", engine, take_video(store, a), take_video(store, b), seconds=float(p["seconds"]),
                       prompt=prompt, seed=int(p.get("seed", 0)), steps=int(p.get("steps", 24)), progress=progress)
    settings = _edit_settings(a, "bridge", to_take=b["id"], prompt=prompt, seconds=p["seconds"],
                              model=engine.model_name)
    rec = lambda: ProvenanceRecord.uniform("transition", len(result.frames), result.fps,  # noqa: E731
                                           generation=_generation(settings))
    tids, cancelled = _verb_take(store, pid, a, result, "bridge", settings, rec, p.get("label", ""), sign=config_dir)
    if p.get("entry_id") and not cancelled:
        store.update_entry(p["entry_id"], bridge_take_id=tids[0], transition="bridge")
    return tids, cancelled


def _run_fill(store, engine, pid, p, progress, config_dir=None):
    take = store.take(p["take_id"])
    prompt = p.get("prompt") or take["settings"].get("prompt", "") or "the same scene"
    enforce(prompt, policy())
    video = take_video(store, take)
    ranges = [tuple(r) for r in p.get("ranges") or []] or None  # None: the verb detects and fills
    result = call_verb("fill", engine, video, ranges, prompt=prompt, seed=int(p.get("seed", 0)),
                       steps=int(p.get("steps", 24)), method=p.get("method", "auto"), progress=progress)
    settings = _edit_settings(take, "fill", ranges=str(ranges), prompt=prompt, model=engine.model_name,
                              method=p.get("method", "auto"), plan=result.settings.get("plan"),
                              world_share=result.settings.get("world_share"))

    def fallback():
        rec = take_record(take)
        if rec.frame_count != len(result.frames):
            return ProvenanceRecord.uniform("inpainted", len(result.frames), result.fps,
                                            generation=_generation(settings))
        for a, b in ranges or result.settings.get("ranges", []):
            rec = rec.mark(a, b + 1, "inpainted", generation=_generation(settings))
        return rec
    return _verb_preview(store, pid, take, result, "fill", settings, fallback, sign=config_dir, audio_from=video)


def _run_inpaint(store, engine, pid, p, progress, config_dir=None):
    take = store.take(p["take_id"])
    enforce(p["prompt"], policy())
    with Image.open(store.path(p["mask"])) as im:
        mask = np.asarray(im.convert("L")) > 127
    video = take_video(store, take)
    result = call_verb("inpaint", engine, video, mask, p["prompt"], seed=int(p.get("seed", 0)),
                       steps=int(p.get("steps", 24)), progress=progress)
    settings = _edit_settings(take, "inpaint", prompt=p["prompt"], mask=p["mask"], model=engine.model_name)
    region = None
    if len(result.frames):
        region = mask_region(mask, result.frames.shape[2], result.frames.shape[1])
    return _verb_preview(store, pid, take, result, "inpaint", settings,
                         lambda: ProvenanceRecord.uniform("inpainted", len(result.frames), result.fps,
                                                          generation=_generation(settings)), region, sign=config_dir,
                         audio_from=video)


# --------------------------------------------------------------------------
# Planning: how much work a job is, for the queue's estimates
# --------------------------------------------------------------------------

def planned_work(store, engine, job: dict) -> float | None:
    """A shot or loop job's sampling work, for the queue's time estimates: its steps (every window's, for the
    bundled model's sliding windows), each costed by the engine's pre-flight estimate for the job's canvas,
    frames and guidance (engine.families.estimate at a nominal 1 TFLOP/s: only ratios between jobs matter;
    the queue turns them into seconds with the speed it measured on the model). Call it only with an engine
    that has rendered (its window plan reads the loaded model). None for the other kinds: how much they do
    depends on footage or retries not known before they run; they are timed once they start."""
    p = job["params"]
    if job["kind"] == "loop":
        take = store.take(p["take_id"])
        if not take["shot_id"]:
            return None
        p = _loop_params(take, p)
    elif job["kind"] != "shot":
        return None
    _, req = _shot_and_request(store, engine, job["project_id"], p, loop=job["kind"] == "loop")
    geometry = validate(engine.model_path, req)
    if geometry is None:  # the bundled model: windows of at most WINDOW_FRAMES frames, each its own steps
        (width, height), frames = req.canvas(), min(WINDOW_FRAMES, engine.base_frames(req))
        steps = req.steps * engine.window_count(req)
    else:  # an open checkpoint renders the clip in one pass
        (width, height, frames), steps = geometry, req.steps
    return steps * _step_cost(str(engine.model_path), width, height, frames, req.guidance > 1)


@functools.lru_cache(maxsize=256)
def _step_cost(model: str, width: int, height: int, frames: int, guided: bool) -> float:
    return estimate(model, width=width, height=height, frames=frames, steps=1, guidance=2.0 if guided else 1.0,
                    dtype="float32", tflops=1.0).steps_seconds


RUNNERS = {"shot": _run_shot, "scene": _run_scene, "loop": _run_loop, "extend": _run_extend, "remix": _run_remix,
           "bridge": _run_bridge,
           "fill": _run_fill, "inpaint": _run_inpaint}
