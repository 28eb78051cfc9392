"""Launch Tenku Studio in the browser:
`python app.py [--host H] [--port P] [--auth USER:PASSWORD] [--projects DIR] [--model PATH]
[--model-dir DIR]... [--farm auto|ray://HOST:PORT|HOST:PORT] [--threads auto|N]`.

Binds 127.0.0.1 unless told otherwise; any other host (or --share) needs --auth
(or TENKU_AUTH=user:password in the environment). Everything the studio keeps
(projects, takes, exports, Gradio's upload cache) lives under the projects
folder; the page is served the projects' media (takes, stills, exports) and
nothing else (not the database, not the upload cache as a page).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from studio.paths import default_config_dir, default_projects_dir

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def threads_arg(text: str):
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected auto or a positive whole number, got {text!r}")
    return int(text)


def parse_args(argv=None):
    from engine.families.pipeline import BUNDLED_MODEL

    p = argparse.ArgumentParser(description="Tenku Studio")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", default=os.environ.get("TENKU_AUTH"), help="USER:PASSWORD required to open the page")
    p.add_argument("--share", action="store_true", help="expose through a Gradio share link (needs --auth)")
    p.add_argument("--projects", default=None, help="projects folder (default: your user data folder)")
    p.add_argument("--model", default=str(BUNDLED_MODEL), help="model folder (default: the bundled model)")
    p.add_argument("--model-dir", action="append", default=[], metavar="DIR",
                   help="a folder the page's Add model may take model folders from (repeatable; the projects "
                        "folder's models/ always counts)")
    p.add_argument("--config", default=None, help="settings folder with the C2PA signing credentials "
                                                  "(default: your user config folder)")
    p.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                   help="compute precision; auto (default): bfloat16 where the processor computes it (AMX, "
                        "AVX-512 BF16) or on a GPU, float32 elsewhere (emulated bfloat16 is many times slower)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or mps (default cpu)")
    p.add_argument("--compile", action="store_true",
                   help="compile the bundled model's transformer at start (torch.compile, cached on disk: minutes "
                        "the first time, seconds after), then render about 1.5x faster on CPUs")
    p.add_argument("--threads", default="auto", type=threads_arg, metavar="auto|N",
                   help="CPU threads a render uses: auto (default) takes the cores other programs leave free, "
                        "re-checked between steps (beside one busy program a 2-thread render ran 4x slower than "
                        "alone, a 1-thread one 1.5x); N pins the count")
    p.add_argument("--farm", default=None, metavar="ADDRESS",
                   help="render on a Ray cluster (needs `pip install ray`; docs/FARM.md): auto (one started on "
                        "this machine, on 127.0.0.1), ray://HOST:PORT (Ray Client) or HOST:PORT (a cluster this "
                        "machine is a node of); default: render in this process")
    p.add_argument("--max-upload-mb", type=float, default=200.0, help="largest clip or still accepted (default 200)")
    return p.parse_args(argv)


def check_launch(args) -> tuple[tuple[str, str] | None, str | None]:
    """(auth, None) when the launch is allowed, else (None, the reason to refuse)."""
    auth = None
    if args.auth:
        if ":" not in args.auth or args.auth.startswith(":") or args.auth.endswith(":"):
            return None, "--auth must be USER:PASSWORD"
        auth = tuple(args.auth.split(":", 1))
    if (args.host not in LOOPBACK or args.share) and auth is None:
        return None, (f"refusing to expose the studio on {args.host}{' with --share' if args.share else ''} "
                      "without --auth USER:PASSWORD (or TENKU_AUTH)")
    if args.max_upload_mb <= 0:
        return None, "--max-upload-mb must be positive"
    return auth, None


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = parse_args(argv)
    auth, refusal = check_launch(args)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    projects = Path(args.projects).expanduser() if args.projects else default_projects_dir()
    projects.mkdir(parents=True, exist_ok=True)
    # Gradio keeps uploads and served files in its cache: keep that inside the projects folder too.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(projects.resolve() / ".gradio-cache"))
    from engine.errors import InputError
    from studio.app import build_app

    try:
        demo, launch_kwargs = build_app(model=args.model, projects=str(projects),
                                        config_dir=args.config or str(default_config_dir()), dtype=args.dtype,
                                        device=args.device, max_upload_mb=args.max_upload_mb,
                                        model_dirs=args.model_dir, farm=args.farm, compile=args.compile,
                                        threads=args.threads)
    except InputError as e:  # a farm that cannot be reached, or named wrongly
        print(f"error: {e}", file=sys.stderr)
        return 2
    demo.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port, auth=auth,
                                                   share=args.share, **launch_kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
