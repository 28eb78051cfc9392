"""Just enough of the MP4 (ISO BMFF) box structure to reject bad input early
with a clear message, and to hash the `ftyp` box that C2PA's BMFF hash leaves out."""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from engine.errors import InputError


def top_level_boxes(path) -> list[tuple[str, int, int]]:
    """(type, offset, size) of every top-level box; raises InputError when the
    file is not an MP4 or is cut short."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{str(path)!r} does not exist; give an MP4 file")
    if not path.is_file():
        raise InputError(f"{str(path)!r} is not a file; give an MP4 file")
    total = path.stat().st_size
    boxes = []
    with open(path, "rb") as fh:
        offset = 0
        while offset < total:
            fh.seek(offset)
            head = fh.read(16)
            if len(head) < 8 and not boxes:
                raise InputError(f"{str(path)!r} is not an MP4 video ({total} bytes, no 'ftyp' box); verify reads MP4 "
                                 "files")
            if len(head) < 8:
                raise InputError(f"{str(path)!r} is truncated: {total - offset} stray bytes after the last complete "
                                 f"box")
            size, kind = struct.unpack(">I4s", head[:8])
            header = 8
            if size == 1:
                if len(head) < 16:
                    raise InputError(f"{str(path)!r} is truncated inside a box header at byte {offset}")
                size, header = struct.unpack(">Q", head[8:16])[0], 16
            elif size == 0:
                size = total - offset
            name = kind.decode("latin-1")
            if not boxes and name != "ftyp":
                raise InputError(f"{str(path)!r} is not an MP4 video (no 'ftyp' box at its start); verify reads MP4 "
                                 f"files")
            if not all(32 <= b < 127 for b in kind) or size < header:
                raise InputError(f"{str(path)!r} is corrupt: unreadable box header at byte {offset}")
            if offset + size > total:
                raise InputError(f"{str(path)!r} is truncated: its '{name}' box at byte {offset} needs {size} bytes "
                                 f"but only {total - offset} remain")
            boxes.append((name, offset, size))
            offset += size
    if not boxes:
        raise InputError(f"{str(path)!r} is empty; give an MP4 file")
    return boxes


def check_mp4(path) -> list[tuple[str, int, int]]:
    """top_level_boxes, also requiring the movie header and media data."""
    boxes = top_level_boxes(path)
    names = {b[0] for b in boxes}
    for needed, what in (("moov", "movie header"), ("mdat", "media data")):
        if needed not in names:
            raise InputError(f"{str(path)!r} has no '{needed}' box ({what}): an unfinished or damaged MP4")
    return boxes


def ftyp_digest(path) -> str:
    """SHA-256 of the file's first box (its 'ftyp')."""
    name, offset, size = top_level_boxes(path)[0]
    with open(path, "rb") as fh:
        fh.seek(offset)
        return hashlib.sha256(fh.read(size)).hexdigest()


# --------------------------------------------------------------------------
# The seal: a whole-file digest in a trailing 'skip' box
# --------------------------------------------------------------------------
# C2PA leaves some bytes of its own manifest store unsigned on purpose (the
# uuid box header, JUMBF labels, the signature's zero padding): a flipped byte
# there still validates. The seal is a SHA-256 of every byte before it, kept in
# a top-level 'skip' box, which C2PA's BMFF hash excludes and players ignore.
# It catches corruption anywhere; it is not a signature (the manifest's own
# assertion records that the file was sealed, so the seal cannot be dropped).

SEAL_MAGIC = b"tenku-seal-v1\x00"


def append_seal(path) -> None:
    """Append the seal box to a finished file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    payload = SEAL_MAGIC + h.digest()
    with open(path, "ab") as fh:
        fh.write(struct.pack(">I4s", 8 + len(payload), b"skip") + payload)


def check_seal(path) -> bool:
    """True when the file ends with a seal box matching every byte before it."""
    name, offset, size = top_level_boxes(path)[-1]
    if name != "skip" or size != 8 + len(SEAL_MAGIC) + 32:
        return False
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        remaining = offset
        while remaining:
            chunk = fh.read(min(1 << 20, remaining))
            if not chunk:
                return False
            h.update(chunk)
            remaining -= len(chunk)
        box = fh.read(size)
    return box[8:8 + len(SEAL_MAGIC)] == SEAL_MAGIC and box[8 + len(SEAL_MAGIC):] == h.digest()
