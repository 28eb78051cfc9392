"""Audio tracks under the timeline: add a music or dialogue file, then set where it starts, its trims, its level
and its fades (studio.soundtracks checks them); the track draws each with its waveform and takes drags too
(studio.panels.timeline). The export mixes them with the clips' own sound (studio.mixdown)."""
from __future__ import annotations

import gradio as gr

from engine.errors import InputError
from engine.video.audio import AUDIO_TYPES
from studio import soundtracks
from studio.panels.common import ON_PROJECT, check_size, discard_upload, guarded, message, need_project, ok

CSS = """
.tl-alane { position: relative; height: 34px; margin-top: 4px; background: #eef4ff; border-radius: 6px;
            touch-action: none; overflow: hidden; }
.tl-aclip { position: absolute; top: 2px; height: 30px; border: 2px solid #0086c9; border-radius: 5px;
            background-color: #0b2540; background-repeat: no-repeat; box-sizing: border-box; cursor: grab; }
.tl-aclip .tl-name { bottom: 1px; }
.tl-afade { position: absolute; top: 0; height: 100%; pointer-events: none; }
.tl-afade.in { left: 0; background: linear-gradient(to top right, rgba(255,255,255,0.55) 50%, transparent 50%); }
.tl-afade.out { right: 0; background: linear-gradient(to top left, rgba(255,255,255,0.55) 50%, transparent 50%); }
.tl-wave { position: absolute; left: 0; right: 0; bottom: 0; height: 20px; background-repeat: no-repeat;
           pointer-events: none; background-color: rgba(0,0,0,0.35); }
"""
FIELDS = ("start", "trim_in", "trim_out", "gain_db", "fade_in", "fade_out")
# the fields' widgets, in FIELDS' order
WIDGETS = ("audio_start", "audio_trim_in", "audio_trim_out", "audio_gain", "audio_fade_in", "audio_fade_out")


def render(studio):
    ui = studio.ui
    with gr.Accordion("Audio tracks: music and dialogue under the cut", open=True, elem_id="audio-panel"):
        with gr.Row():
            ui["audio_upload"] = gr.File(label="Add music or dialogue (" + ", ".join(AUDIO_TYPES) + ")",
                                         file_types=list(AUDIO_TYPES), elem_id="audio-upload", scale=2)
            ui["audio_pick"] = gr.Dropdown(label="Audio track", choices=[], allow_custom_value=True,
                                           elem_id="audio-picker", scale=2)
            ui["audio_remove"] = gr.Button("Remove track", size="sm", variant="stop", elem_id="audio-remove",
                                           scale=1)
        with gr.Row():
            ui["audio_start"] = gr.Number(label="Starts at (s in the cut)", value=0, elem_id="audio-start")
            ui["audio_trim_in"] = gr.Number(label="Trim in (s of the file)", value=0, elem_id="audio-trim-in")
            ui["audio_trim_out"] = gr.Number(label="Trim out (s)", value=0, elem_id="audio-trim-out")
            ui["audio_gain"] = gr.Number(label="Level (dB)", value=0, elem_id="audio-gain")
            ui["audio_fade_in"] = gr.Number(label="Fade in (s)", value=0, elem_id="audio-fade-in")
            ui["audio_fade_out"] = gr.Number(label="Fade out (s)", value=0, elem_id="audio-fade-out")
            ui["audio_apply"] = gr.Button("Apply to track", size="sm", elem_id="audio-apply")
        ui["audio_msg"] = message(elem_id="audio-msg")
    # after a drag on the track (studio.panels.timeline), the fields show what the drag kept
    studio.refreshers["audio"] = (lambda pid, tid: follow(studio.store, pid, tid), [ui["project"], ui["audio_pick"]],
                                  [ui["audio_pick"], *(ui[k] for k in WIDGETS)])


def choices(store, pid) -> list:
    return [(f"A{i + 2}. {t['name']} ({soundtracks.kept_seconds(t):.2f} s)", t["id"])
            for i, t in enumerate(store.audio_tracks(pid))] if pid else []


def values(store, pid, tid):
    """The picker (all tracks, `tid` chosen) and the fields of `tid`."""
    t = store.audio_track(tid) if tid else None
    fields = [t[k] if t else 0 for k in FIELDS]
    return (gr.update(choices=choices(store, pid), value=tid), *fields)


def follow(store, pid, tid):
    """The picker and fields again, for the track chosen (or the first, when it is gone)."""
    if not pid:
        return (gr.update(),) * (1 + len(FIELDS))
    ids = [t["id"] for t in store.audio_tracks(pid)]
    return values(store, pid, tid if tid in ids else (ids[0] if ids else None))


def listen(studio, demo):
    ui, store = studio.ui, studio.store
    fields = [ui[k] for k in WIDGETS]
    shown = [ui["audio_pick"], *fields]

    @guarded(len(shown) + 1)
    def on_project(pid):
        tracks = store.audio_tracks(pid) if pid else []
        return (*values(store, pid, tracks[0]["id"] if tracks else None), "")

    @guarded(len(shown) + 1)
    def add(pid, path):
        try:
            need_project(pid, store)
            if not path:
                raise InputError(f"choose a sound file to add ({', '.join(AUDIO_TYPES)})")
            check_size(studio, path)
            tid = soundtracks.add_track(store, pid, path)
        finally:  # copied into the project, or refused: Gradio's copy is not needed either way
            if path:
                discard_upload(path)
        t = store.audio_track(tid)
        return (*values(store, pid, tid), ok(f"added {t['name']} ({t['seconds']:.2f} s, {t['info'].get('codec')} "
                                             f"{t['info'].get('rate')} Hz, {t['info'].get('channels')} ch) as a "
                                             "track from the cut's start"))

    @guarded(len(shown) + 1)
    def select(pid, tid):
        soundtracks.track_of(store, need_project(pid, store), tid)
        return (*values(store, pid, tid), "")

    @guarded(len(shown) + 1)
    def apply(pid, tid, *vals):
        t = soundtracks.track_of(store, need_project(pid, store), tid)
        t = soundtracks.set_track(store, t["id"], **dict(zip(FIELDS, vals)))
        return (*values(store, pid, t["id"]), ok(f"{t['name']}: starts at {t['start']:g} s, plays "
                                                 f"{soundtracks.kept_seconds(t):.2f} s at {t['gain_db']:+g} dB"))

    @guarded(len(shown) + 1)
    def remove(pid, tid):
        t = soundtracks.track_of(store, need_project(pid, store), tid)
        store.remove_audio_track(t["id"])
        rest = store.audio_tracks(pid)
        return (*values(store, pid, rest[0]["id"] if rest else None), ok(f"removed {t['name']}"))

    redraw = dict(api_visibility="private", show_progress="hidden")
    ui["project"].change(on_project, [ui["project"]], [*shown, ui["audio_msg"]], api_name="audio_tracks",
                         show_progress="hidden", **ON_PROJECT)
    ui["audio_upload"].upload(add, [ui["project"], ui["audio_upload"]], [*shown, ui["audio_msg"]],
                              api_name="add_audio_track").then(lambda: None, None, [ui["audio_upload"]], **redraw).then(
        *studio.refreshers["timeline"], **redraw)
    ui["audio_pick"].input(select, [ui["project"], ui["audio_pick"]], [*shown, ui["audio_msg"]],
                           api_name="select_audio_track")
    ui["audio_apply"].click(apply, [ui["project"], ui["audio_pick"], *fields], [*shown, ui["audio_msg"]],
                            api_name="set_audio_track").then(*studio.refreshers["timeline"], **redraw)
    ui["audio_remove"].click(remove, [ui["project"], ui["audio_pick"]], [*shown, ui["audio_msg"]],
                             api_name="remove_audio_track").then(*studio.refreshers["timeline"], **redraw)
