"""The transformer through `torch.compile`, where it pays (issue 30, item 3).

On the 2-core CPUs this project runs on, the bundled transformer is small (a few hundred tokens, six
blocks), so a call is dominated by many small kernels (norms, modulation, GELU, attention reshapes)
rather than by its matmuls; inductor fuses them into a few generated C++ loops. Measured per call
(one thread, the default 2 s 1:1 window, guidance on): about 1.5x faster after a cold compile of
1-3 minutes (docs/BENCHMARKS.md). So the compiled graph is cached on disk (`cache_dir`), and the
studio compiles once at its start (`Engine.warm_up`), never silently inside a user's first render.

Inductor's CPU backend needs a C++ compiler. A machine without one (or any other failure to compile)
renders with the plain module and says why once: compiling is an optimisation, never a requirement.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch


def cache_dir() -> Path:
    """Where compiled kernels are kept between runs: TORCHINDUCTOR_CACHE_DIR when set, else the user's cache
    folder (not /tmp, so a reboot does not cost another cold compile)."""
    from platformdirs import user_cache_dir  # deferred: platformdirs is heavy; this module imports without it

    return Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR") or Path(user_cache_dir("tenku")) / "inductor")


class Compiled:
    """A module called through torch.compile, falling back to the module itself if compiling fails.
    Attributes (config, dtype, parameters) are the module's own, so callers use it as they used the module."""

    def __init__(self, module: torch.nn.Module):
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir()))
        self.module = module
        # dynamic=False: one graph per shape (a studio renders a handful: its aspects and window lengths),
        # each cached on disk; symbolic shapes made slower kernels here
        self.compiled = torch.compile(module, dynamic=False)
        self.failed: str | None = None

    def __call__(self, *args, **kwargs):
        if self.failed is None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as e:  # no C++ compiler, an unsupported op: render eagerly, say why once
                self.failed = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
                sys.stderr.write(f"note: torch.compile failed ({self.failed}); rendering without it\n")
        return self.module(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.module, name)
