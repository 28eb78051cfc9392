"""The render queue panel: waiting, running and done jobs, progress with a live preview, Stop."""
from __future__ import annotations

import html
import time

import gradio as gr

from studio.panels.common import ON_PROJECT, guarded, message, ok

HEADERS = ["job", "kind", "what", "status", "%", "stage"]
POLL_S = 0.4
WATCHERS = 4  # pages that may stream the queue at once; the single queue worker is what serialises the engine


def render(studio):
    ui = studio.ui
    with gr.Accordion("Render queue", open=True, elem_id="queue-panel"):
        with gr.Row():
            with gr.Column(scale=3):
                ui["queue_progress"] = gr.HTML("<div class='bar'><div style='width:0%'></div></div><p>idle</p>",
                                               elem_id="queue-progress")
                ui["queue_table"] = gr.Dataframe(headers=HEADERS, value=[], interactive=False, wrap=True,
                                                 elem_id="queue-table")
            with gr.Column(scale=1, min_width=200):
                ui["queue_preview"] = gr.Image(label="Live preview", interactive=False, height=160,
                                               elem_id="queue-preview")
                with gr.Row():
                    ui["stop"] = gr.Button("Stop", variant="stop", elem_id="stop-render")
                    ui["refresh_queue"] = gr.Button("Refresh", size="sm", elem_id="refresh-queue")
                ui["queue_msg"] = message(elem_id="queue-msg")

    def outputs():
        return [ui["queue_table"], ui["queue_progress"], ui["queue_preview"], *studio.engine_buttons, ui["cards"]]

    def watch(dep):
        return dep.then(lambda pid, sid: (yield from stream(studio, pid, sid)), [ui["project"], ui["shot"]], outputs(),
                        concurrency_id="engine", concurrency_limit=WATCHERS, api_visibility="private",
                        show_progress="hidden")
    studio.watch = watch


def progress_html(snap) -> str:
    run = snap["running"]
    if run is None:
        waiting = sum(1 for r in snap["rows"] if r[3] == "waiting")
        return f"<div class='bar'><div style='width:0%'></div></div><p>{'waiting' if waiting else 'idle'}</p>"
    pct = round(100 * run["progress"])
    what = html.escape(run["params"].get("label") or run["kind"])
    return (f"<div class='bar'><div style='width:{pct}%'></div></div>"
            f"<p id='running-job' data-job='{run['id']}'>Rendering {what} · {html.escape(run['stage'])} · {pct}%</p>")


def view(studio, pid):
    snap = studio.queue.snapshot(pid)
    preview = snap["running"]["preview"] if snap["running"] else gr.update()
    buttons = [gr.update(interactive=not snap["busy"]) for _ in studio.engine_buttons]
    return snap, [snap["rows"], progress_html(snap), preview, *buttons]


def stream(studio, pid, shot_id=None):
    """Yield the queue view until no job of the project is waiting or running; the storyboard cards are
    redrawn whenever a job finishes or a take is made (each take appears under its card as soon as it is
    made), when a long take finishes a window (its partial file plays under the card), and at the end."""
    cards = studio.refreshers["cards"][0]
    seen, shown = None, None
    while True:
        snap, out = view(studio, pid)
        finished = {r[0] for r in snap["rows"] if r[3] not in ("waiting", "running")}
        # also when a take is kept mid-job (a scene's shots) or a long take finishes a window
        windows = sorted((k, v["window"]) for k, v in studio.queue.partials(pid).items()) if pid else []
        now = (finished, len(studio.store.takes(pid)) if pid else 0, windows)
        redraw = seen is not None and now != seen or not snap["busy"]
        seen = now
        # only what changed goes to the page: an unchanged table re-sent every poll kept the browser busy
        # redrawing it, which on a loaded machine slowed the very render it was showing
        key = (repr(snap["rows"]), out[1], id(snap["running"]["preview"]) if snap["running"] else None)
        if redraw or key != shown:
            shown = key
            yield [*out, cards(pid, shot_id) if redraw and pid else gr.update()]
        if not snap["busy"]:
            return
        time.sleep(POLL_S)


def listen(studio, demo):
    ui = studio.ui

    @guarded(1)
    def stop(pid):
        hit = studio.queue.stop(project_id=pid) if pid else []
        return ok(f"stopping {len(hit)} job(s); a running take keeps what it has made so far") if hit else \
            "nothing is rendering"

    ui["stop"].click(stop, [ui["project"]], [ui["queue_msg"]], api_name="stop", concurrency_limit=None)
    outs = [ui["queue_table"], ui["queue_progress"], ui["queue_preview"], *studio.engine_buttons, ui["cards"]]
    watch_fn = lambda pid, sid: (yield from stream(studio, pid, sid))  # noqa: E731
    ins = [ui["project"], ui["shot"]]
    ui["refresh_queue"].click(watch_fn, ins, outs, api_name="watch_queue", concurrency_id="engine",
                              concurrency_limit=WATCHERS, show_progress="hidden")
    # A page opened after a restart follows the jobs the studio resumed.
    ui["project"].change(watch_fn, ins, outs, api_visibility="private", concurrency_id="engine",
                         concurrency_limit=WATCHERS, show_progress="hidden", **ON_PROJECT)
