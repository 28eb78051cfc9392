"""Progress on stderr: one line redrawn with "\r", and the newline that ends it before anything else.

A line redrawn in place has no newline until it is done, so whatever is written next (an error
from a check at the end of a render) would be glued to it (issue 34): `end_line` ends an open
progress line, and `engine.__main__` calls it before printing an error.
"""
from __future__ import annotations

import sys
import time

_open = False  # a progress line is on stderr without its newline


def progress_printer(quiet: bool):
    """A progress callback (fraction, stage, info) drawing one line on stderr, or nothing when quiet."""
    start = time.time()

    def show(fraction: float, stage: str, info=None):
        global _open
        if not quiet:
            sys.stderr.write(f"\r{stage}: {fraction * 100:5.1f}%  {time.time() - start:6.1f}s")
            sys.stderr.flush()
            _open = True
    return show


def end_line() -> None:
    """End the progress line, when one is open, so the next message starts on its own line."""
    global _open
    if _open:
        sys.stderr.write("\n")
        sys.stderr.flush()
        _open = False


def say(text: str) -> None:
    """`text` on a line of its own: over an open progress line (which the next update redraws below it)."""
    global _open
    sys.stderr.write(("\r" + text + " " * 8 if _open else text) + "\n")
    sys.stderr.flush()
    _open = False
