"""The JSON and TOML files people hand the engine, read in one place and within bounds.

Batch files, scene files, the sidecars `verify` compares, provenance records, policy files and a
studio's signer.toml all come from outside, so each is read to a size limit of its kind and refused
when nested deeper than MAX_DEPTH. Python's parsers recurse: 100,000 "[" raised a RecursionError
(issue 34), and a record nested 900 deep parses but breaks whatever walks it next. Refusals are one
InputError line naming the file and the line.
"""
from __future__ import annotations

import json
import re
import tomllib

from engine.errors import InputError

MAX_DEPTH = 64  # levels of nested arrays and objects; the engine's own files use 6 at most
MiB = 1 << 20
# The most read of each kind of file: many times what a real one holds.
MAX_BYTES = {
    "batch file": 16 * MiB,  # one job a line: some 50,000 jobs
    "scene file": 4 * MiB,
    "sidecar": 64 * MiB,  # a version-1 record repeated the prompt in every frame range (issue 34)
    "provenance record": 64 * MiB,
    "policy file": 4 * MiB,
    "signer file": 1 * MiB,
    "layout file": 8 * MiB,  # a keyframe per frame of three ten-minute paths is about 1 MiB
}
# Where nesting is counted: brackets outside strings (and, in TOML, outside comments).
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)
_TOML_TOKENS = re.compile(r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]',
                          re.S)


def read_bytes(path, what: str) -> bytes:
    """The bytes of the file at `path`, refused past MAX_BYTES[what] (a key: "scene file", ...)."""
    limit = MAX_BYTES[what]
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as e:
        raise InputError(f"{what} {str(path)!r} cannot be read ({e.strerror or e.__class__.__name__})") from None
    if len(raw) > limit:
        raise InputError(f"{what} {str(path)!r} is over {limit // MiB} MiB, the most a {what} may be; is it the "
                         "right file?")
    return raw


def read_text(path, what: str) -> str:
    """The UTF-8 text of the file at `path` (a byte-order mark dropped), within MAX_BYTES[what]."""
    return decode(read_bytes(path, what), what, path)


def decode(raw: bytes, what: str, path) -> str:
    """`raw` (the file at `path`, a `what`) as UTF-8 text, a byte-order mark dropped."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise InputError(f"{what} {str(path)!r} line {line}: not UTF-8 text; save the file as UTF-8") from None


def read_json(path, what: str):
    """The JSON value in the file at `path`, within the bounds for `what` (a key of MAX_BYTES)."""
    return parse_json(read_text(path, what), what, f"{what} {str(path)!r}")


def parse_json(text: str, what: str, name: str | None = None):
    """The JSON value in `text`, a `what` (a key of MAX_BYTES). Errors start "{name} line L: " when a
    `name` is given; without one (a batch line, whose caller names file and line) they say only what
    is wrong, with the column."""
    def where(offset_line: int) -> str:
        return "" if name is None else f"{name} line {offset_line}: "

    if len(text) > MAX_BYTES[what]:
        raise InputError(f"{name or 'the text'} is over {MAX_BYTES[what] // MiB} MiB, the most a {what} may be")
    at = _too_deep(text, _JSON_TOKENS)
    if at is not None:
        line = text.count("\n", 0, at) + 1
        col = at - text.rfind("\n", 0, at)
        raise InputError(f"{where(line)}nested more than {MAX_DEPTH} levels deep at column {col}; "
                         f"a {what} needs only a few levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where(e.lineno)}not valid JSON ({e.msg} at column {e.colno})") from None


def read_toml(path, what: str) -> dict:
    """The TOML table in the file at `path`, within the bounds for `what`."""
    return parse_toml(read_text(path, what), f"{what} {str(path)!r}")


def parse_toml(text: str, name: str) -> dict:
    """The TOML table in `text` (called `name` in errors), refused when nested past MAX_DEPTH."""
    at = _too_deep(text, _TOML_TOKENS)
    if at is not None:
        raise InputError(f"{name} line {text.count(chr(10), 0, at) + 1}: nested more than {MAX_DEPTH} levels deep")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{name} is not valid TOML ({e})") from None
    except RecursionError:  # nesting the scan above cannot see: still one line
        raise InputError(f"{name} is nested too deeply to read") from None


def _too_deep(text: str, tokens: re.Pattern) -> int | None:
    """The offset where nesting passes MAX_DEPTH, or None."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for m in tokens.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return m.start()
        elif c in "]}":
            depth = max(0, depth - 1)
    return None
