"""Uploads: their size checked on arrival, and the ones the studio refuses removed from Gradio's upload folder,
wherever the refusal happens."""
from __future__ import annotations

import os
from pathlib import Path

from engine.errors import InputError


def discard_upload(path) -> None:
    """Remove a refused upload from Gradio's upload folder (the file and its folder), so that refused files do
    not pile up on disk. Paths anywhere else are left alone."""
    from gradio.utils import get_upload_folder  # deferred: gradio is heavy; this module imports without it

    p, cache = Path(path).resolve(), Path(get_upload_folder()).resolve()
    if cache not in p.parents:
        return
    p.unlink(missing_ok=True)
    if p.parent != cache and not any(p.parent.iterdir()):
        p.parent.rmdir()


def check_size(studio, path) -> None:
    """Refuse an upload larger than the studio allows (--max-upload-mb), saying so by its name."""
    name = Path(path).name
    try:
        size = os.path.getsize(path)
    except OSError:
        raise InputError(f"{name} did not arrive whole; upload it again") from None
    if size > studio.max_upload_mb * 1e6:
        raise InputError(f"{name} is {size / 1e6:.1f} MB; uploads are limited to {studio.max_upload_mb:g} MB")
