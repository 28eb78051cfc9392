"""Uploads the studio refuses are removed from Gradio's upload folder, wherever the refusal happens."""
from __future__ import annotations

from pathlib import Path


def discard_upload(path) -> None:
    """Remove a refused upload from Gradio's upload folder (the file and its folder), so that refused files do
    not pile up on disk. Paths anywhere else are left alone."""
    from gradio.utils import get_upload_folder

    p, cache = Path(path).resolve(), Path(get_upload_folder()).resolve()
    if cache not in p.parents:
        return
    p.unlink(missing_ok=True)
    if p.parent != cache and not any(p.parent.iterdir()):
        p.parent.rmdir()
