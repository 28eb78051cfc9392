"""`python -m engine COMMAND ...`: the headless face of the engine (docs: ../shared CLI.md contract)."""
import argparse
import importlib
import os
import sys
import warnings

from engine.cli.progress import end_line
from engine.errors import InputError

# One module per verb under engine/cli/; a missing module simply means the verb is not built yet.
COMMANDS = ["generate", "animate", "extend", "fill", "bridge", "remix", "inpaint",
            "interpolate", "scene", "evaluate", "bench", "train", "verify", "read", "recipe-search"]


class Parser(argparse.ArgumentParser):
    """Usage mistakes are one line, like every other refusal (the usage block is one --help away)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """All verbs, or only `only` (so a command pays for its own imports, not every verb's)."""
    parser = Parser(prog="python -m engine", description="Tenku Studio engine")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in ([only] if only else COMMANDS):
        try:
            module = importlib.import_module(f"engine.cli.{name.replace('-', '_')}")
        except ModuleNotFoundError as e:
            if e.name != f"engine.cli.{name.replace('-', '_')}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    argv = sys.argv[1:] if argv is None else list(argv)
    # torch's note that a bf16 input met an fp32 norm weight (it takes the unfused path): not the user's
    # business, and it broke --quiet's promise of a silent stderr
    warnings.filterwarnings("ignore", message="Mismatch dtype between input and weight")
    if "--quiet" in argv:  # nor do the libraries' own bars ("Loading weights") belong on a quiet stderr
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        if "transformers" in sys.modules:  # already imported (a caller in this process): tell it directly
            sys.modules["transformers"].utils.logging.disable_progress_bar()
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        end_line()  # the error's own line, not the tail of a progress line
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        end_line()
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
