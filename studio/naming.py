"""What the page calls things, in one place below the panels (the cards, the cut and the panels all use it):
takes by their shot ("Shot 2 · take 3"), footage by its file, and the marks on messages."""
from __future__ import annotations

import html


def err(text: str) -> str:
    return f"⚠️ {text}"


def ok(text: str) -> str:
    return f"✓ {text}"


def footage_name(take: dict) -> str:
    """What the footage bin and the timeline call a take of the filmmaker's own footage: the uploaded file,
    and the edit that made it from that file (carphone.mp4 · fill)."""
    name = take["settings"].get("source_file") or take["label"] or take["id"]
    return name if take["kind"] == "camera" else f"{name} · {take['kind']}"


def take_name(store, take: dict) -> str:
    """What the page calls a take: "Shot 2 · take 3" (its shot's place in the storyboard, its own among the
    shot's takes), a footage clip by its file (footage_name), anything else by its kind; ids only in details."""
    if take.get("shot_id"):
        shots = [s["id"] for s in store.shots(take["project_id"])]
        takes = [t["id"] for t in store.takes(take["project_id"], take["shot_id"])]
        if take["shot_id"] in shots and take["id"] in takes:
            return f"Shot {shots.index(take['shot_id']) + 1} · take {takes.index(take['id']) + 1}"
    if take["settings"].get("source_file"):
        return footage_name(take)
    return take["label"] or take["kind"] or "clip"


def esc(text) -> str:
    return html.escape(str(text or ""))
