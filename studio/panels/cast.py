"""Cast and scene: the project's cast (member -> description, used in shot prompts as {member}) and "Render
scene": the whole storyboard as one engine.scenes.scene job (studio.scene), its kept takes under their cards, the
assembled scene and its continuity report below."""
from __future__ import annotations

import gradio as gr

from studio import scene as scenes
from studio.cards import cards_html
from studio.panels.common import ON_PROJECT, after_render, guarded, message, need_project, ok, vocabulary


def render(studio):
    """The cast and the scene render (below the shot editor and its motion)."""
    ui = studio.ui
    with gr.Accordion("Cast and scene", open=True, elem_id="scene-panel"):
        gr.Markdown("Describe each cast member once; shot prompts say `{member}` (e.g. `{ball} rolls to the "
                    "right`). **Render scene** renders every shot as one scene that keeps the cast's look, "
                    "joined by the timeline's transitions (cuts where a shot has no clip there).")
        with gr.Row():
            with gr.Column(scale=2):
                ui["cast_table"] = gr.Dataframe(headers=["member", "description"], value=[], interactive=False,
                                                elem_id="cast-table")
                with gr.Row():
                    ui["cast_name"] = gr.Textbox(label="Member", placeholder="ball", elem_id="cast-name", scale=1)
                    ui["cast_desc"] = gr.Textbox(label="Description", placeholder="the big red ball",
                                                 elem_id="cast-desc", scale=3)
                with gr.Row():
                    ui["set_member"] = gr.Button("Set member", size="sm", elem_id="set-member")
                    ui["remove_member"] = gr.Button("Remove member", size="sm", variant="stop",
                                                    elem_id="remove-member")
                ui["cast_msg"] = message(elem_id="cast-msg")
            with gr.Column(scale=3):
                with gr.Row():
                    ui["scene_retries"] = gr.Slider(0, 3, value=2, step=1, elem_id="scene-retries",
                                                    label="Retries per shot when the cast's look breaks")
                    ui["render_scene"] = gr.Button("Render scene", variant="primary", elem_id="render-scene")
                ui["scene_msg"] = message(elem_id="scene-msg")
                ui["scene_report"] = gr.HTML(scenes.report_html(None), elem_id="scene-report")
                ui["scene_video"] = gr.Video(label="The scene (assembled)", format="mp4", elem_id="scene-video",
                                             height=220, interactive=False)
    studio.engine_buttons.append(ui["render_scene"])
    studio.refreshers["scene"] = (lambda pid: scene_view(studio, pid), [ui["project"]],
                                  [ui["cast_table"], ui["scene_report"], ui["scene_video"]])


def scene_view(studio, pid):
    """The cast table, the latest scene's continuity report and the scene itself."""
    if not pid:
        return [], scenes.report_html(None), None
    cast = [[k, v] for k, v in studio.store.cast(pid).items()]
    take = scenes.latest_scene(studio.store, pid)
    video = str(studio.store.path(take["path"])) if take else None
    return cast, scenes.report_html(take) + scenes.cast_sheet_html(studio.store, take), video


def listen(studio, demo):
    ui, store, queue = studio.ui, studio.store, studio.queue

    @guarded(4)
    def set_member(pid, name, description):
        new = store.set_member(need_project(pid, store), name, description)
        what = f"added {name.strip()}: shot prompts can say {{{name.strip()}}}" if new else \
            f"{name.strip()} is now {' '.join(description.split())!r}"
        return scene_view(studio, pid)[0], "", "", ok(what)

    @guarded(4)
    def remove_member(pid, name):
        store.remove_member(need_project(pid, store), name)
        return scene_view(studio, pid)[0], "", "", ok(f"removed {name.strip()} from the cast")

    @guarded(2)
    def render_scene(pid, model, retries):
        scene, shot_ids = scenes.scene_dict(store, need_project(pid, store), int(retries if retries is not None else 2))
        checked = scenes.check(scene)
        n, secs = len(checked.shots), sum(s.seconds for s in checked.shots)
        queue.submit(pid, "scene", {"scene": scene, "shot_ids": shot_ids, "model": model,
                                    "label": f"scene: {n} shots, {secs:g} s"})
        cast = f" with {', '.join(checked.cast)}" if checked.cast else ""
        return cards_html(studio, pid, None), ok(f"queued the scene: {n} shots, {secs:g} s{cast}") + \
            vocabulary(studio, model, [s.text for s in checked.shots])

    ui["project"].change(*studio.refreshers["scene"], api_name="scene", show_progress="hidden", **ON_PROJECT)
    cast_out = [ui["cast_table"], ui["cast_name"], ui["cast_desc"], ui["cast_msg"]]
    ui["set_member"].click(set_member, [ui["project"], ui["cast_name"], ui["cast_desc"]], cast_out,
                           api_name="set_cast_member")
    ui["cast_desc"].submit(set_member, [ui["project"], ui["cast_name"], ui["cast_desc"]], cast_out,
                           api_visibility="private")
    ui["remove_member"].click(remove_member, [ui["project"], ui["cast_name"]], cast_out,
                              api_name="remove_cast_member")
    rendered = ui["render_scene"].click(render_scene, [ui["project"], ui["model"], ui["scene_retries"]],
                                        [ui["cards"], ui["scene_msg"]], api_name="render_scene")
    after_render(studio, rendered, scene=True)
