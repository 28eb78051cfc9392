"""Projects: the list, create / rename / duplicate / delete (with confirmation), the example, the model picker."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import gradio as gr

from engine.errors import InputError
from studio.panels.common import guarded, message, need_project, ok

EXAMPLE = Path(__file__).resolve().parents[2] / "assets" / "examples"


def project_choices(studio):
    return [(p["name"], p["id"]) for p in studio.store.projects()]


def render(studio):
    ui = studio.ui
    with gr.Row(equal_height=True):
        ui["project"] = gr.Dropdown(allow_custom_value=True, label="Project", choices=project_choices(studio),
                                    value=None, scale=3,
                                    elem_id="project-picker")
        ui["project_name"] = gr.Textbox(label="Name", placeholder="My short film", scale=3, elem_id="project-name")
        with gr.Column(scale=4, min_width=320):
            with gr.Row():
                ui["new_project"] = gr.Button("New project", variant="primary", size="sm", elem_id="new-project")
                ui["rename_project"] = gr.Button("Rename", size="sm", elem_id="rename-project")
                ui["duplicate_project"] = gr.Button("Duplicate", size="sm", elem_id="duplicate-project")
                ui["delete_project"] = gr.Button("Delete…", variant="stop", size="sm", elem_id="delete-project")
                ui["open_example"] = gr.Button("Open the example project", size="sm", elem_id="open-example")
    with gr.Row(visible=False, elem_id="confirm-delete") as ui["confirm_row"]:
        gr.Markdown("**Delete this project, its takes and its exports for good?**")
        ui["confirm_delete"] = gr.Button("Yes, delete it", variant="stop", size="sm", elem_id="confirm-delete-yes")
        ui["cancel_delete"] = gr.Button("Keep it", size="sm", elem_id="confirm-delete-no")
    with gr.Accordion("Model", open=False):
        with gr.Row():
            names = list(studio.engines.folders())
            ui["model"] = gr.Dropdown(allow_custom_value=True, label="Model", choices=names, value=names[0],
                                      elem_id="model-picker")
            ui["model_folder"] = gr.Textbox(label="Add a model folder",
                                            placeholder="/path/to/model (with model_index.json)")
            ui["add_model"] = gr.Button("Add model", size="sm")
        ui["model_msg"] = message()
    ui["project_msg"] = message(elem_id="project-msg")


def listen(studio, demo):
    ui, store = studio.ui, studio.store

    def picker(value=None):
        return gr.update(choices=project_choices(studio), value=value)

    @guarded(3)
    def create(name):
        pid = store.create_project(name)
        return picker(pid), "", ok(f"created “{store.project(pid)['name']}”")

    @guarded(2)
    def rename(pid, name):
        store.rename_project(need_project(pid, store), name)
        return picker(pid), ok("renamed")

    @guarded(2)
    def duplicate(pid):
        new = store.duplicate_project(need_project(pid, store))
        return picker(new), ok(f"duplicated as “{store.project(new)['name']}”")

    @guarded(2)
    def ask(pid):
        need_project(pid, store)
        return gr.update(visible=True), ""

    @guarded(3)
    def delete(pid):
        need_project(pid, store)
        if studio.queue.busy(pid):
            raise InputError("this project has jobs rendering; stop them before deleting it")
        name = store.project(pid)["name"]
        store.delete_project(pid)
        rest = project_choices(studio)
        return picker(rest[0][1] if rest else None), gr.update(visible=False), ok(f"deleted “{name}”")

    @guarded(2)
    def example():
        pid = open_example(studio)
        return picker(pid), ok(f"opened the example as “{store.project(pid)['name']}”: pick a shot and press "
                               "Render shot")

    @guarded(2)
    def add_model(folder):
        name = studio.engines.add(folder)
        return gr.update(choices=list(studio.engines.folders()), value=name), ok(f"added model {name}")

    def load():
        rows = project_choices(studio)
        return picker(rows[0][1] if rows else None)

    ui["new_project"].click(create, [ui["project_name"]], [ui["project"], ui["project_name"], ui["project_msg"]],
                            api_name="create_project")
    ui["project_name"].submit(create, [ui["project_name"]], [ui["project"], ui["project_name"], ui["project_msg"]],
                              api_visibility="private")
    ui["rename_project"].click(rename, [ui["project"], ui["project_name"]], [ui["project"], ui["project_msg"]],
                               api_name="rename_project")
    ui["duplicate_project"].click(duplicate, [ui["project"]], [ui["project"], ui["project_msg"]],
                                  api_name="duplicate_project")
    ui["delete_project"].click(ask, [ui["project"]], [ui["confirm_row"], ui["project_msg"]], api_name="ask_delete")
    ui["confirm_delete"].click(delete, [ui["project"]], [ui["project"], ui["confirm_row"], ui["project_msg"]],
                               api_name="delete_project")
    ui["cancel_delete"].click(lambda: gr.update(visible=False), None, [ui["confirm_row"]], api_name="cancel_delete")
    ui["open_example"].click(example, None, [ui["project"], ui["project_msg"]], api_name="open_example")
    ui["add_model"].click(add_model, [ui["model_folder"]], [ui["model"], ui["model_msg"]], api_name="add_model")
    demo.load(load, None, [ui["project"]], api_name="list_projects")


def open_example(studio) -> str:
    """Copy the bundled example storyboard into a new project; returns its id."""
    spec = json.loads((EXAMPLE / "storyboard.json").read_text())
    store = studio.store
    pid = store.create_project(store.free_name(spec["name"]))  # opened again: “... (2)”
    for shot in spec["shots"]:
        fields = dict(shot)
        for key in ("start_image", "end_image"):
            if fields.get(key):
                dst = store.media(pid, "stills") / Path(fields[key]).name
                shutil.copyfile(EXAMPLE / fields[key], dst)
                fields[key] = store.rel(dst)
        store.add_shot(pid, **fields)
    return pid
