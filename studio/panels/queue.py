"""The render queue panel: the line of jobs with their times, progress with a live preview, Stop, and the
waiting jobs moved up or down or cancelled before they start. The render buttons stay active while jobs run:
a job queued mid-render joins the end of the line (issue 31)."""
from __future__ import annotations

import html
import time

import gradio as gr

from engine.errors import InputError
from studio.panels.common import ON_PROJECT, guarded, message, need_project, ok

HEADERS = ["job", "kind", "what", "status", "%", "stage", "time"]
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
                with gr.Row():
                    # allow_custom_value: the API names a job by id, and the choices follow the line as it moves
                    ui["queue_job"] = gr.Dropdown(label="Waiting job", choices=[], value=None, scale=3,
                                                  allow_custom_value=True, elem_id="queue-job")
                    ui["job_up"] = gr.Button("Move up", size="sm", elem_id="job-up")
                    ui["job_down"] = gr.Button("Move down", size="sm", elem_id="job-down")
                    ui["job_cancel"] = gr.Button("Cancel job", size="sm", elem_id="job-cancel")
                    ui["cancel_waiting"] = gr.Button("Cancel all waiting", size="sm", elem_id="cancel-waiting")
            with gr.Column(scale=1, min_width=200):
                ui["queue_preview"] = gr.Image(label="Live preview", interactive=False, height=160,
                                               elem_id="queue-preview")
                with gr.Row():
                    ui["stop"] = gr.Button("Stop", variant="stop", elem_id="stop-render")
                    ui["refresh_queue"] = gr.Button("Refresh", size="sm", elem_id="refresh-queue")
                ui["queue_msg"] = message(elem_id="queue-msg")

    def watch(dep):
        return dep.then(watcher(studio), [ui["project"], ui["shot"]], outputs(studio), concurrency_id="engine",
                        concurrency_limit=WATCHERS, api_visibility="private", show_progress="hidden")
    studio.watch = watch


def outputs(studio):
    ui = studio.ui
    return [ui["queue_table"], ui["queue_progress"], ui["queue_preview"], ui["queue_job"], ui["cards"]]


def clock(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def about(seconds: float) -> str:
    return "<0:01" if seconds < 1 else f"~{clock(seconds)}"


def time_text(job_id: str, times: dict) -> str:
    """A job's time as the table shows it: elapsed and left while it runs, its length and start while it waits."""
    t = times.get(job_id)
    if t is None:
        return ""
    if "elapsed" in t:
        left = "estimating..." if t["left"] is None else f"{about(t['left'])} left"
        return f"{clock(t['elapsed'])} elapsed, {left}"
    if t["takes"] is None:
        return "estimating..."
    return about(t["takes"]) + (f", starts in {about(t['starts_in'])}" if t["starts_in"] is not None else "")


def progress_html(snap) -> str:
    run, times, waiting = snap["running"], snap["times"], snap["waiting"]
    line = ""
    if waiting:
        last = times.get(waiting[-1]["id"], {})
        done = "estimating..." if last.get("takes") is None or last.get("starts_in") is None else \
            f"all done in about {clock(last['starts_in'] + last['takes'])}"
        line = f"<p id='queue-line'>{len(waiting)} waiting · {done}</p>"
    if run is None:
        return f"<div class='bar'><div style='width:0%'></div></div><p>{'waiting' if waiting else 'idle'}</p>{line}"
    pct = round(100 * run["progress"])
    what = html.escape(run["params"].get("label") or run["kind"])
    t = times.get(run["id"], {"elapsed": 0.0, "left": None, "per_step": None})
    left = "estimating..." if t["left"] is None else f"about {clock(t['left'])} left"
    if t["per_step"]:
        left += f" ({t['per_step']:.2g} s a step)"
    return (f"<div class='bar'><div style='width:{pct}%'></div></div>"
            f"<p id='running-job' data-job='{run['id']}'>Rendering {what} · {html.escape(run['stage'])} · {pct}% · "
            f"{clock(t['elapsed'])} elapsed · {left}</p>{line}")


def choices(snap) -> list[tuple[str, str]]:
    return [(f"{i + 1}. {j['params'].get('label') or j['kind']} · {j['id']}", j["id"])
            for i, j in enumerate(snap["waiting"])]


def view(studio, pid):
    snap = studio.queue.snapshot(pid)
    preview = snap["running"]["preview"] if snap["running"] else gr.update()
    rows = [[*r, time_text(r[0], snap["times"])] for r in snap["rows"]]
    return snap, [rows, progress_html(snap), preview]


def watcher(studio):
    def watch(pid, shot_id, request: gr.Request):
        yield from stream(studio, pid, shot_id, request.session_hash if request else None)
    return watch


def stream(studio, pid, shot_id=None, session=None):
    """Yield the queue view until no job of the project is waiting or running; the storyboard cards are
    redrawn whenever a job finishes or a take is made (each take appears under its card as soon as it is
    made), when a long take finishes a window (its partial file plays under the card), and at the end.
    A page follows the queue in one stream: each render click starts one, and the newest ends the older."""
    token = object()
    if session:
        studio.watching[session] = token
    cards = studio.refreshers["cards"][0]
    seen, shown, line = None, None, None
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
        key = (repr(out[0]), out[1], id(snap["running"]["preview"]) if snap["running"] else None)
        # the picker's choices only when the line changes: re-sent every poll, an open list would flicker
        waiting = choices(snap)
        pick, line = gr.update(choices=waiting) if waiting != line else gr.update(), waiting
        if redraw or key != shown:
            shown = key
            yield [*out, pick, cards(pid, shot_id) if redraw and pid else gr.update()]
        if not snap["busy"] or session and studio.watching.get(session) is not token:
            break
        time.sleep(POLL_S)
    if session and studio.watching.get(session) is token:
        studio.watching.pop(session, None)


def listen(studio, demo):
    ui, queue, store = studio.ui, studio.queue, studio.store

    @guarded(1)
    def stop(pid):
        jid = queue.current(pid) if pid else None
        hit = queue.stop(jid) if jid else []
        if not hit:
            return "nothing is rendering"
        rest = sum(1 for j in store.jobs(project_id=pid, status="waiting") if j["id"] not in hit)
        later = f"; {rest} waiting job(s) still run (Cancel job takes one out of line)" if rest else ""
        return ok(f"stopping {len(hit)} job(s); a running take keeps what it has made so far{later}")

    def line_edit(act, done):
        @guarded(4)
        def edit(pid, jid):
            if jid and store.job(jid)["project_id"] != need_project(pid, store):
                raise InputError("that job is not in this project's queue")
            act(jid)
            snap, out = view(studio, pid)
            keep = jid if any(j["id"] == jid for j in snap["waiting"]) else None
            return out[0], out[1], gr.update(choices=choices(snap), value=keep), ok(done)
        return edit

    ins, outs = [ui["project"], ui["queue_job"]], [ui["queue_table"], ui["queue_progress"], ui["queue_job"],
                                                   ui["queue_msg"]]
    ui["job_up"].click(line_edit(lambda j: queue.move(j, -1), "moved up the line"), ins, outs, api_name="move_job_up",
                       concurrency_limit=None)
    ui["job_down"].click(line_edit(lambda j: queue.move(j, 1), "moved down the line"), ins, outs,
                         api_name="move_job_down", concurrency_limit=None)
    ui["job_cancel"].click(line_edit(queue.cancel, "cancelled: it will not run"), ins, outs, api_name="cancel_job",
                           concurrency_limit=None)

    @guarded(4)
    def cancel_all(pid):
        n = queue.cancel_waiting(need_project(pid, store))
        snap, out = view(studio, pid)
        running = "; the rendering job goes on (Stop stops it)" if snap["running"] else ""
        said = ok(f"cancelled {n} waiting job(s): they will not run{running}") if n else "no job is waiting"
        return out[0], out[1], gr.update(choices=choices(snap), value=None), said

    ui["cancel_waiting"].click(cancel_all, [ui["project"]], outs, api_name="cancel_waiting", concurrency_limit=None)

    def pick_row(evt: gr.SelectData):
        """A click on a waiting job's row picks it for Move up / down and Cancel."""
        jid = (evt.row_value or [None])[0]
        return gr.update(value=jid) if jid and store.job(jid)["status"] == "waiting" else gr.update()

    ui["queue_table"].select(pick_row, None, [ui["queue_job"]], api_visibility="private", show_progress="hidden")
    ui["stop"].click(stop, [ui["project"]], [ui["queue_msg"]], api_name="stop", concurrency_limit=None)
    ins = [ui["project"], ui["shot"]]
    ui["refresh_queue"].click(watcher(studio), ins, outputs(studio), api_name="watch_queue", concurrency_id="engine",
                              concurrency_limit=WATCHERS, show_progress="hidden")
    # A page opened after a restart follows the jobs the studio resumed.
    ui["project"].change(watcher(studio), ins, outputs(studio), api_visibility="private", concurrency_id="engine",
                         concurrency_limit=WATCHERS, show_progress="hidden", **ON_PROJECT)
