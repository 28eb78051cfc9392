"""Default folders (no Gradio import here: app.py reads these before Gradio is loaded)."""
from __future__ import annotations

from pathlib import Path


def default_projects_dir() -> Path:
    from platformdirs import user_data_dir  # deferred: platformdirs is heavy; this module imports without it

    return Path(user_data_dir("tenku-studio")) / "projects"


def default_config_dir() -> Path:
    """Settings, including the C2PA signing credentials (engine.provenance.SignerConfig.from_config_dir)."""
    from platformdirs import user_config_dir  # deferred: platformdirs is heavy; this module imports without it

    return Path(user_config_dir("tenku-studio"))
