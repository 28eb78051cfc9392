"""`python -m engine COMMAND ...`: the headless face of the engine (docs: ../shared CLI.md contract)."""
import argparse
import importlib
import os
import sys

from engine.errors import InputError

# One module per verb under engine/cli/; a missing module simply means the verb is not built yet.
COMMANDS = ["generate", "animate", "extend", "fill", "bridge", "remix", "inpaint",
            "interpolate", "scene", "evaluate", "bench", "train", "verify"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Tenku Studio engine")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"engine.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"engine.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
