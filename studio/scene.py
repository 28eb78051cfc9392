"""Scenes in the studio: the project's cast, and its storyboard as one engine.scenes.scene scene.

The cast is described once (member -> description, e.g. ball -> "the big red
ball"); shot prompts say `{ball}`. A single shot's render puts the description in
place (`expand`); "Render scene" turns the whole storyboard into a scene dict
(`scene_dict`: the cast, each shot's prompt, seconds, seed and camera, and the
transition into each shot from the timeline, a cut when the shot has no clip
there), checks it with `engine.scenes.scene.parse_scene` and queues it as one job
(studio.jobs `_run_scene`). The job's kept takes go under their cards; the
assembled scene is a take of its own (no shot) whose settings carry the
continuity report, shown by `report_html`.
"""
from __future__ import annotations

import base64
import html
import re

from engine.errors import InputError
from engine.request import BASE_FPS
from engine.scenes.scene import CAMERAS, parse_scene

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")  # as engine.scenes.scene.PLACEHOLDER


def esc(text) -> str:
    return html.escape(str(text or ""))


def camera_keys() -> dict:
    """The storyboard's camera words -> engine.scenes.scene camera names ("the camera pans left" -> "pan_left")."""
    return {words: key for key, words in CAMERAS.items()}


def expand(prompt: str, cast: dict) -> str:
    """`prompt` with every {member} replaced by its description; an unknown member is an InputError."""
    def sub(m):
        name = m.group(1).strip()
        if name not in cast:
            raise InputError(f"unknown cast member {{{name}}}; the cast is: {', '.join(cast) or '(empty)'} "
                             "(add it under Cast and scene)")
        return cast[name]
    return PLACEHOLDER.sub(sub, prompt or "")


def friendly(message: str) -> str:
    """engine.scenes.scene's 'scene: shots[1].prompt: ...' as the storyboard says it: 'shot 2, prompt: ...'."""
    message = re.sub(r"^scene: ", "", message)
    return re.sub(r"shots\[(\d+)\]\.?", lambda m: f"shot {int(m.group(1)) + 1}, ", message).replace(", :", ":")


def scene_dict(store, project_id: str, retries: int = 2) -> tuple[dict, list[str]]:
    """The project's storyboard as an engine.scenes.scene dict (unchecked) and the shot ids in order."""
    shots = store.shots(project_id)
    if not shots:
        raise InputError("no shots to render; add a shot first")
    shot_of = {t["id"]: t["shot_id"] for t in store.takes(project_id)}
    entry_of = {}  # shot id -> its clip on the timeline (the transition into it)
    for e in store.timeline(project_id):
        entry_of.setdefault(shot_of.get(e["take_id"]), e)
    cams = camera_keys()
    out = []
    for i, s in enumerate(shots):
        prompt, camera = (s["prompt"] or "").strip(), (s["camera"] or "").strip()
        d = {"prompt": prompt, "seconds": float(s["seconds"]), "seed": int(s["seed"])}
        if camera in cams:
            d["camera"] = cams[camera]
        elif prompt:  # other camera words ride on the prompt, as a single shot's render does
            d["prompt"] = f"{prompt}, {camera}"
        e = entry_of.get(s["id"])
        if i and e and e["transition"] != "cut":
            d["transition"] = {"type": e["transition"], "seconds": float(e["transition_seconds"])}
        out.append(d)
    first = shots[0]
    scene = {"title": store.project(project_id)["name"], "cast": store.cast(project_id), "aspect": first["aspect"],
             "fps": BASE_FPS, "seed": int(first["seed"]), "steps": int(first["steps"]),
             "guidance": float(first["guidance"]), "retries": int(retries), "shots": out}
    return scene, [s["id"] for s in shots]


def check(scene: dict):
    """engine.scenes.scene.parse_scene, its error said the storyboard's way."""
    try:
        return parse_scene(scene)
    except InputError as e:
        raise InputError(friendly(str(e))) from None


def latest_scene(store, project_id: str) -> dict | None:
    scenes = [t for t in store.takes(project_id) if t["kind"] == "scene" and not t["shot_id"]]
    return scenes[-1] if scenes else None


def shot_checks(scene_take: dict | None) -> dict:
    """Take id (a kept shot of the latest scene) -> its continuity checks [{"member", "ok", "problems"}]."""
    if not scene_take:
        return {}
    s = scene_take["settings"]
    checks = s.get("continuity", {}).get("checks", [])
    out = {}
    for i, tid in enumerate(s.get("shot_takes", [])):
        out[tid] = [c for c in checks if c["shot"] == i + 1]
    return out


def cast_sheet_html(store, scene_take: dict | None) -> str:
    """The stills a scene took its members' looks from (the cast sheet, or the shot that lent a look),
    inlined so that the page reads nothing outside the project; empty when the scene held none."""
    sheet = (scene_take or {}).get("settings", {}).get("cast_sheet") or {}
    cells = []
    for member, ref in sheet.items():
        try:
            data = base64.b64encode(store.path(ref["image"]).read_bytes()).decode()
        except (OSError, InputError, KeyError, TypeError):
            continue  # a still deleted or moved: the rest of the sheet still shows
        cells.append(f"<figure data-member='{esc(member)}'><img alt='{esc(member)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption><b>{esc(member)}</b> · from {esc(ref.get('from') or '?')}</figcaption></figure>")
    if not cells:
        return ""
    head = "<p><b>Cast sheet</b>: the still each member's look was taken from</p>"
    return f"<div class='cast-sheet' id='cast-sheet'>{head}{''.join(cells)}</div>"


def report_html(scene_take: dict | None) -> str:
    """The continuity report of a scene take: every member kept its look, or which shots broke whose."""
    if not scene_take:
        return "<p class='scene-report'>No scene rendered yet.</p>"
    rep = scene_take["settings"].get("continuity") or {}
    n = len(scene_take["settings"].get("shots", []))
    if not rep.get("checks"):
        return f"<div class='scene-report' data-ok='none'><p>Scene of {n} shots: no cast member to check.</p></div>"
    if rep.get("ok"):
        head = f"✓ Continuity passed: every cast member keeps its look in all {n} shots."
    else:
        broken = ", ".join(str(s) for s in rep.get("broken_shots", []))
        head = f"⚠️ Continuity broken in shot(s) {broken} of {n}."
    rows = "".join(
        f"<tr class='{'ok' if c['ok'] else 'broken'}'><td>shot {c['shot']}</td><td>{esc(c['member'])}</td>"
        f"<td>{'✓ keeps its look' if c['ok'] else '⚠️ ' + esc('; '.join(c['problems']))}</td></tr>"
        for c in rep["checks"])
    return (f"<div class='scene-report' data-ok='{str(bool(rep.get('ok'))).lower()}'><p><b>{head}</b> "
            f"<small>(checked by {esc(rep.get('extractor', '?'))}; pass rate {rep.get('pass_rate', 0):.0%})</small></p>"
            f"<table><tr><th>shot</th><th>member</th><th>look</th></tr>{rows}</table></div>")
