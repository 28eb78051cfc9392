"""The studio page. For now one panel: prompt in, video out, through the shared engine."""
from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from engine.errors import InputError
from engine.service import ASPECTS, Engine, GenerateRequest


def build_app(model: str, projects: str | None = None):
    engine = Engine(model)
    out_dir = Path(tempfile.mkdtemp(prefix="tenku-"))

    def generate(prompt, aspect, seconds, seed, progress=gr.Progress()):
        from engine import media

        try:
            req = GenerateRequest(prompt=prompt, aspect=aspect, seconds=float(seconds), seed=int(seed))
            req.validate()
            result = engine.generate(req, lambda f, stage, info=None: progress(f, desc=stage))
        except InputError as e:
            raise gr.Error(str(e))
        path = out_dir / f"take-{int(seed)}-{abs(hash(prompt)) % 10**8}.mp4"
        media.write_output(str(path), result.frames, result.fps,
                           sidecar={"settings": result.settings, "provenance": result.provenance})
        return str(path)

    with gr.Blocks(title="Tenku Studio") as demo:
        gr.Markdown("# Tenku Studio\nType a shot, get a take.")
        with gr.Row():
            prompt = gr.Textbox(label="Prompt", placeholder="a small red ball rolls to the right on a sandy desert",
                                scale=4)
            aspect = gr.Dropdown(list(ASPECTS), value="1:1", label="Aspect")
            seconds = gr.Number(value=2, label="Seconds", minimum=0.5, maximum=60)
            seed = gr.Number(value=0, label="Seed", precision=0)
        go = gr.Button("Render", variant="primary")
        video = gr.Video(label="Take", format="mp4")
        go.click(generate, [prompt, aspect, seconds, seed], video, api_name="generate",
                 concurrency_id="engine")
    return demo, {"allowed_paths": [str(out_dir)]}
