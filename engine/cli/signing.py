"""The signing credentials of a command that writes video: found and tried before any work.

Kept apart from `common` (which loads the model's libraries) so `interpolate`, which runs no model,
checks its credentials without importing torch.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from engine.errors import InputError
from engine.provenance import SignerConfig


def config_dir(args) -> Path:
    if getattr(args, "config", None):
        return Path(args.config)
    if os.environ.get("TENKU_CONFIG"):
        return Path(os.environ["TENKU_CONFIG"])
    import platformdirs  # deferred: platformdirs is heavy; kept off the CLI's top (--help)
    return Path(platformdirs.user_config_dir("tenku"))


def signer(args):
    """The C2PA signer of --config (its local chain made on first use), or an InputError: called before
    any render, so a --config that cannot hold credentials never costs a render, nor leaves an unsigned
    file where a signed one was."""
    folder = config_dir(args)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--config {str(folder)!r} is a file; give the folder that holds (or will hold) the "
                         "signing credentials")
    new = not (folder / "c2pa").is_dir()
    try:
        config = SignerConfig.from_config_dir(folder)
    except OSError as e:
        raise InputError(f"--config {str(folder)!r} cannot hold the signing credentials "
                         f"({e.strerror or e.__class__.__name__})") from None
    config.check()  # a key that does not sign is found now, not after the render
    if new and not getattr(args, "quiet", False):  # a typo'd --config would sign as someone new, unsaid
        sys.stderr.write(f"note: made a new signing identity in {folder / 'c2pa'}; files it signs verify with "
                         f"--config {folder}\n")
    return config
