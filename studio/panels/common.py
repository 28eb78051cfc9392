"""Small helpers the panels share: inline messages, guarded handlers, the per-frame strip."""
from __future__ import annotations

import functools
import html
import logging
from pathlib import Path

import gradio as gr

from engine.errors import InputError
from engine.video.media import UnreadableImage, open_image
from engine.world.captioner import unseen_note
from studio.naming import err, esc, footage_name, ok, take_name  # noqa: F401 (the panels' words)
from studio.uploads import check_size, discard_upload  # noqa: F401

log = logging.getLogger("tenku.studio")
KIND_NAMES = {"C": "camera", "G": "generated", "I": "interpolated", "P": "inpainted", "T": "transition"}

# Every listener on the project picker's .change runs once per change. Gradio 6's default for .change,
# "always_last", re-fired the picker's five listeners (storyboard, scene, timeline, fill, queue) in a cycle:
# about ten events a second for as long as a page was open, and a click could wait behind them for ever.
ON_PROJECT = dict(trigger_mode="multiple")


def message(**kw) -> gr.Markdown:
    return gr.Markdown("", elem_classes=["inline-msg"], **kw)


def guarded(n_outputs: int):
    """Bad input becomes an inline message (the last output) and leaves every other output alone."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args):
            try:
                return fn(*args)
            except InputError as e:
                text = err(str(e))
            except Exception as e:  # a bug: say so inline, keep the page usable
                log.exception("handler %s failed", fn.__name__)
                text = err(f"something went wrong ({type(e).__name__}: {e})")
            return text if n_outputs == 1 else (*[gr.update() for _ in range(n_outputs - 1)], text)
        return inner
    return wrap


def read_still(path):
    """The still at `path` as a PIL image, upright, its size checked before it is decoded; a file that is not
    a still this studio reads is refused by its name, saying what is allowed."""
    name = Path(path).name
    try:
        return open_image(path, name)
    except UnreadableImage:
        raise InputError(f"{name} is not an image this studio can read (PNG or JPEG)") from None


def check_stills(studio, stills: dict, msg) -> None:
    """Check each still as it uploads, not at Save (issue 31: a 50 MB junk “.png” uploaded and was refused only
    at Save): a bad one is said in `msg` at once, emptied from its box and removed from the upload folder.
    `stills`: API name -> Still."""
    def check(path):
        if not path:
            return gr.update(), ""
        try:
            check_size(studio, path)
            w, h = read_still(path).size
        except InputError as e:
            discard_upload(path)
            return None, err(str(e))
        return gr.update(), ok(f"{Path(path).name}: a {w}x{h} image; Save shot keeps it")

    for name, still in stills.items():
        still.upload(check, [still], [still, msg], api_name=f"check_{name}", show_progress="hidden")


class Still(gr.Image):
    """gr.Image that hands every upload to the handler, even one that is not an image (Gradio's own
    decoding would fail first with a generic "Error"), so the handler's check can say what is wrong and
    what is allowed. Give it type="filepath" and image_mode=None (the handler decodes). It keeps
    gr.Image's constructor: Gradio sends the page the props that constructor names, and a page given
    none of them never finishes loading."""

    def get_block_name(self) -> str:
        return "image"

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except Exception:
            if payload is None or not getattr(payload, "path", None):
                raise
            return str(payload.path)


class Mask(gr.ImageMask):
    """gr.ImageMask whose undecodable upload (a text file, an SVG, an image too large to decode) is a clear
    message instead of a generic "Error"."""

    def get_block_name(self) -> str:
        return "imageeditor"

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except Exception:
            log.info("mask upload refused", exc_info=True)
            raise gr.Error("the mask is not an image this studio can read: paint over the frame, or upload a "
                           "PNG or JPEG (white where to repaint)") from None


def picker_row(ui, picker: tuple[str, str, str], buttons: list[tuple[str, str, str]]) -> None:
    """A picker (key, label, elem_id) with its small buttons (key, text, elem_id) beside it, the last a red
    one that removes: the shot picker's and the timeline clip picker's row."""
    key, label, elem_id = picker
    with gr.Row():
        ui[key] = gr.Dropdown(allow_custom_value=True, label=label, choices=[], elem_id=elem_id, scale=4)
        with gr.Column(scale=2, min_width=260), gr.Row():
            for i, (k, text, b_id) in enumerate(buttons):
                ui[k] = gr.Button(text, size="sm", elem_id=b_id, variant="stop" if i == len(buttons) - 1 else
                                  "secondary")


def order_buttons(ui, keys: tuple[str, str, str], api_names: tuple[str, str, str], move, remove, inputs,
                  outputs) -> None:
    """An ordered list's buttons (the storyboard's shots, the timeline's clips): earlier, later and remove, each
    on the selected item (`inputs`: the project and the item; `move(project, item, -1 or 1)`)."""
    earlier, later, gone = keys
    ui[earlier].click(lambda p, x: move(p, x, -1), inputs, outputs, api_name=api_names[0])
    ui[later].click(lambda p, x: move(p, x, 1), inputs, outputs, api_name=api_names[1])
    ui[gone].click(remove, inputs, outputs, api_name=api_names[2])


def need_project(pid, store=None):
    """`pid`, when it names a project (of `store`, when given: one deleted in another tab is not open)."""
    if not pid or (store is not None and not store.has_project(pid)):
        raise InputError("no project is open; create one (or open the example) in Projects")
    return pid


def use_on_timeline(store, take: dict) -> str:
    """Make a take its shot's chosen take on the timeline (Store.choose_take); returns what happened.
    A take with no shot (footage) is appended as a clip of its own each time."""
    eid, replaced = store.choose_take(take["id"])
    pos = [e["id"] for e in store.timeline(take["project_id"])].index(eid) + 1
    if not take["shot_id"]:
        return ok(f"{footage_name(take)} is on the timeline (clip {pos})")
    ids = [t["id"] for t in store.takes(take["project_id"], take["shot_id"])] if take["shot_id"] else []
    number = lambda tid: f"take {ids.index(tid) + 1}" if tid in ids else "this take"  # noqa: E731
    if replaced:
        return ok(f"clip {pos} on the timeline now uses {number(take['id'])} (was {number(replaced)})")
    return ok(f"{number(take['id'])} is on the timeline (clip {pos})")


def strip_html(strip: str, current: int | None = None) -> str:
    """The per-frame strip: one coloured cell per frame, C camera, G generated, I interpolated, P inpainted."""
    if not strip:
        return "<div class='strip-empty'>no clip loaded</div>"
    cells = "".join(f"<span class='k-{c}{' cur' if i == current else ''}' title='frame {i}: {KIND_NAMES[c]}'></span>"
                    for i, c in enumerate(strip))
    counts = ", ".join(f"{strip.count(c)} {KIND_NAMES[c]}" for c in "CGIPT" if c in strip)
    return (f"<div class='strip' data-strip='{html.escape(strip)}'>{cells}</div>"
            f"<div class='strip-legend'>{len(strip)} frames: {counts}</div>")


def vocabulary(studio, model, prompts: list[str]) -> str:
    """After a render's message: how the chosen model reads each prompt its prompt reader rewrote, and a note on
    words it never saw in training (world models)."""
    engine, words, shots, read = studio.engines(model), [], [], []
    for i, p in enumerate(prompts, 1):
        read_as = engine.model_prompt(p)
        if read_as != p:
            read.append(f"read as: \"{read_as}\"" + (f" (shot {i})" if len(prompts) > 1 else ""))
            continue
        new = engine.unseen_words(p)
        words += [w for w in new if w not in words]
        shots += [i] if new else []
    out = "".join("\n\n" + r for r in read)
    if not words:
        return out
    where = f" (shot{'s' if len(shots) > 1 else ''} {', '.join(map(str, shots))})" if len(prompts) > 1 else ""
    return out + "\n\n" + unseen_note(words) + where


def after_render(studio, dep, scene: bool = False):
    """Once the queue is idle, redraw the takes and the cards (and the scene); leave the shot editor (it may hold
    unsaved edits)."""
    dep = studio.watch(dep)
    chain = [studio.refreshers["takes"], studio.refreshers["cards"]] + ([studio.refreshers["scene"]] if scene else [])
    for fn, inputs, outputs in chain:
        dep = dep.then(fn, inputs, outputs, api_visibility="private", show_progress="hidden")
    return dep
