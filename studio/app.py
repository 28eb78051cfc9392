"""The studio page: composes the panels around one shared Studio (store, queue, engines)."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import gradio as gr

from studio.context import Engines, Studio
from studio.jobs import planned_work, run_job
from studio.panels import cast, fill, motion, sound, storyboard, takes, timeline
from studio.panels import projects as projects_panel
from studio.panels import queue as queue_panel
from studio.panels.common import check_stills
from studio.paths import default_config_dir, default_projects_dir
from studio.project import Store
from studio.queue import RenderQueue

CSS = """
.inline-error p { color: #b42318; font-weight: 600; margin: 0; }
.inline-ok p { color: #067647; margin: 0; }
#shot-cards { min-height: 90px; }
.cards { display: flex; gap: 8px; flex-wrap: wrap; }
.card { border: 1px solid #d0d5dd; border-radius: 8px; padding: 8px; width: 330px; background: #fff; color: #101828;
        cursor: pointer; }
.card.sel { border: 2px solid #7f56d9; }
.card b { display: block; }
.card .takes { display: grid; grid-template-columns: 1fr 1fr; gap: 6px; margin-top: 6px; cursor: default; }
.card .take { margin: 0; padding: 4px; border: 1px solid #eaecf0; border-radius: 6px; font-size: 12px; }
.card .take.chosen { border: 2px solid #12b76a; }
.card .take video { width: 100%; border-radius: 4px; background: #000; }
.card .take .badge { color: #067647; font-weight: 600; }
.card .take .partial { color: #b54708; }
.card .take button { font-size: 11px; margin: 2px 2px 0 0; padding: 1px 6px; border: 1px solid #d0d5dd;
                     border-radius: 4px; background: #f9fafb; color: #101828; cursor: pointer; }
.card.footage { background: #f9fafb; cursor: default; }
.card .take.rendering { border: 2px dashed #7f56d9; }
.card .take.animatic { border: 2px dotted #98a2b3; background: #f9fafb; }
.card .take .window { color: #6941c6; font-weight: 600; }
.card .take .continuity { display: block; }
.card .take .continuity.broken { color: #b42318; }
.scene-report table { border-collapse: collapse; font-size: 13px; }
.scene-report td, .scene-report th { border: 1px solid #eaecf0; padding: 2px 8px; }
.scene-report tr.broken td { color: #b42318; }
.cast-sheet figure { display: inline-block; margin: 4px 8px 4px 0; }
.cast-sheet img { height: 96px; border: 1px solid #eaecf0; border-radius: 4px; }
.cast-sheet figcaption { font-size: 12px; }
.strip { display: flex; height: 18px; border: 1px solid #999; }
.strip span { flex: 1; min-width: 1px; }
.strip span.cur { outline: 2px solid #101828; z-index: 1; }
.k-C { background: #98a2b3; } .k-G { background: #7f56d9; } .k-I { background: #36bffa; }
.k-P { background: #f79009; } .k-T { background: #12b76a; }
.bar { height: 12px; background: #eaecf0; border-radius: 6px; overflow: hidden; }
.bar div { height: 100%; background: #7f56d9; }
.motion-bar { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; margin-bottom: 6px;
              font-size: 13px; }
.motion-bar button { border: 2px solid #d0d5dd; border-radius: 6px; padding: 2px 8px; background: #fff;
                     color: #101828; }
.motion-bar button.sel { background: #f4ebff; font-weight: 600; }
.motion-bar input { width: 4.5em; }
.motion-canvas { width: 100%; height: auto; border: 1px solid #d0d5dd; border-radius: 6px;
                 touch-action: none; user-select: none; display: block; }
.motion-handle { cursor: grab; }
.motion-handle:focus { outline: none; stroke: #101828; stroke-width: 3px; }
.motion-note { margin: 0 0 4px; font-size: 13px; color: #475467; }
.tl-root { position: relative; user-select: none; }
.tl-ruler { position: relative; height: 18px; border-bottom: 1px solid #98a2b3; cursor: pointer; font-size: 11px;
            color: #475467; }
.tl-tick { position: absolute; top: 0; border-left: 1px solid #98a2b3; padding-left: 3px; white-space: nowrap; }
.tl-lane { position: relative; height: 84px; margin-top: 4px; background: #f2f4f7; border-radius: 6px;
           touch-action: none; overflow: hidden; }
.tl-clip { position: absolute; top: 6px; height: 72px; border: 2px solid #7f56d9; border-radius: 6px;
           background-color: #101828; background-size: auto 100%; background-repeat: repeat-x; cursor: grab;
           box-sizing: border-box; }
.tl-clip.dragging { opacity: 0.7; z-index: 2; }
.tl-clip:focus { outline: 2px solid #101828; }
.tl-name { position: absolute; left: 4px; bottom: 2px; font-size: 11px; color: #fff; background: rgba(0,0,0,0.55);
           padding: 0 4px; border-radius: 3px; white-space: nowrap; pointer-events: none; }
.tl-edge { position: absolute; top: 0; width: 8px; height: 100%; cursor: ew-resize; background: rgba(127,86,217,0.6); }
.tl-in { left: 0; } .tl-out { right: 0; }
.tl-fade { position: absolute; left: 0; top: 0; height: 100%; pointer-events: none;
           background: linear-gradient(to right, rgba(255,255,255,0.7), rgba(255,255,255,0)); }
.tl-fade-dot { position: absolute; top: -2px; width: 12px; height: 12px; margin-left: -6px; border-radius: 50%;
               background: #12b76a; border: 2px solid #fff; cursor: col-resize; }
.tl-playhead { position: absolute; top: 0; width: 2px; height: 100%; background: #d92d20; pointer-events: none;
               z-index: 3; }
.tl-readout { font-size: 12px; color: #344054; margin-top: 2px; font-variant-numeric: tabular-nums; }
"""


def make_studio(model, projects, config_dir, dtype: str = "auto", device: str = "cpu",
                max_upload_mb: float = 200.0, start: bool = True, model_dirs=(), farm: str | None = None,
                farm_env: dict | None = None, compile: bool = False, threads: int | str | None = None) -> Studio:
    """farm: render on a Ray cluster (studio.farm: "auto", "ray://HOST:PORT", "HOST:PORT"); None: in process.
    farm_env: environment variables of the farm's renderer processes.
    compile: the bundled model through torch.compile, compiled here for the default shot (16:9) before the
    studio serves, so no render waits on it unsaid (engine.sampling.compiled).
    threads: the renders' CPU team (engine.sampling.threads): "auto" (app.py's default: the cores other
    programs leave free), a count, or None (torch's setting, untouched)."""
    store = Store(projects)
    engines = Engines(model, store, dtype=dtype, device=device, model_dirs=model_dirs, compile=compile and not farm,
                      threads=threads)
    if compile and not farm:
        say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        say(f"compiled in {engines().warm_up(log=say):.0f} s")
    runner = functools.partial(run_job, config_dir=Path(config_dir))
    if farm:
        # deferred: the farm (Ray) only when asked for; the in-process studio never needs it
        from studio.farm import farm_queue

        queue = farm_queue(farm, store, engines, runner, planned_work, env=farm_env)
    else:
        queue = RenderQueue(store, engines, runner, planned_work)
    queue.recover()
    if start:
        queue.kick()  # resume what a restart interrupted, without waiting for a page to open
    return Studio(store, engines, queue, Path(config_dir), max_upload_mb=max_upload_mb)


def build_app(model: str, projects: str | None = None, config_dir: str | None = None, dtype: str = "auto",
              max_upload_mb: float = 200.0, device: str = "cpu", model_dirs=(), farm: str | None = None,
              compile: bool = False, threads: int | str | None = None):
    """Returns (demo, launch kwargs). Launch kwargs keep Gradio's file access to the projects' media."""
    studio = make_studio(model, Path(projects) if projects else default_projects_dir(),
                         Path(config_dir) if config_dir else default_config_dir(), dtype=dtype, device=device,
                         max_upload_mb=max_upload_mb, model_dirs=model_dirs, farm=farm, compile=compile,
                         threads=threads)
    panels = [projects_panel, storyboard, motion, cast, takes, timeline, sound, fill]
    with gr.Blocks(title="Tenku Studio") as demo:
        gr.Markdown("# Tenku Studio")
        projects_panel.render(studio)
        with gr.Tabs():
            with gr.Tab("Storyboard", id="storyboard"):
                storyboard.render(studio)
                motion.render(studio)
                cast.render(studio)
                takes.render(studio)
            with gr.Tab("Timeline", id="timeline"):
                timeline.render(studio)
                sound.render(studio)
            with gr.Tab("Fill frames", id="fill"):
                fill.render(studio)
        queue_panel.render(studio)
        for panel in panels + [queue_panel]:
            panel.listen(studio, demo)
        check_stills(studio, {k: studio.ui[k] for k in ("start_image", "end_image")}, studio.ui["shot_msg"])
    demo.studio = studio
    # The page may be served the projects' media (takes, previews, stills, exports) and nothing else in the
    # projects folder: not the database (a reader that opens and closes it drops SQLite's locks, and the next
    # one can delete the live write-ahead log), not the model list, and not Gradio's upload folder, whose files
    # it serves as downloads by itself (served from an allowed path, an uploaded page would run on ours).
    root = studio.store.root
    launch = {"allowed_paths": [str(root / "media")],
              "blocked_paths": [str(root / n) for n in ("studio.db", "studio.db-wal", "studio.db-shm", "models.json")],
              "css": CSS + sound.CSS, "theme": gr.themes.Soft(), "max_file_size": f"{int(max_upload_mb * 2)}mb"}
    return demo, launch
