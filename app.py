"""Launch Tenku Studio in the browser: `python app.py [--host H] [--port P] [--auth USER:PASSWORD] [--model PATH]`.

Binds 127.0.0.1 unless told otherwise; any other host (or --share) needs --auth
(or TENKU_AUTH=user:password in the environment).
"""
from __future__ import annotations

import argparse
import os
import sys

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse_args(argv=None):
    from engine.pipeline import BUNDLED_MODEL

    p = argparse.ArgumentParser(description="Tenku Studio")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--auth", default=os.environ.get("TENKU_AUTH"), help="USER:PASSWORD required to open the page")
    p.add_argument("--share", action="store_true", help="expose through a Gradio share link (needs --auth)")
    p.add_argument("--projects", default=None, help="projects folder (default: your user data folder)")
    p.add_argument("--model", default=str(BUNDLED_MODEL), help="model folder (default: the bundled model)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = parse_args(argv)
    auth = None
    if args.auth:
        if ":" not in args.auth or args.auth.startswith(":") or args.auth.endswith(":"):
            print("error: --auth must be USER:PASSWORD", file=sys.stderr)
            return 2
        auth = tuple(args.auth.split(":", 1))
    if (args.host not in LOOPBACK or args.share) and auth is None:
        print(f"error: refusing to expose the studio on {args.host}{' with --share' if args.share else ''} "
              "without --auth USER:PASSWORD (or TENKU_AUTH)", file=sys.stderr)
        return 2
    from studio.app import build_app

    demo, launch_kwargs = build_app(model=args.model, projects=args.projects)
    demo.queue(default_concurrency_limit=1).launch(server_name=args.host, server_port=args.port, auth=auth,
                                                   share=args.share, **launch_kwargs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
