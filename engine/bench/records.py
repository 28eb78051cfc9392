"""Issue 34's figures: the size of a take's provenance record at 10, 60 and 600 seconds, and that it signs.

    python -m engine bench --records

Each record is stretched to length the way a take's is made (engine.longtake: windows of the
model's 8 fps frames delivered at 24 fps through flow in-betweens, each window's record
concatenated), with a 2,000-character prompt whose reading is as long. It is signed into a short
real MP4 (a manifest's size does not depend on the frames it signs) and checked with `verify`. The
version-1 form (every range holding its own generation) is measured beside it: the C2PA library
refuses a manifest over 1 MiB.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.provenance import ensure_local_chain, sign_mp4, trust_anchors_pem, verify_file
from engine.provenance.record import Generation, ProvenanceRecord, concatenate
from engine.video import media
from engine.world import render, sample_scene

WINDOW = 12  # new base frames a window delivers (engine.longtake: 17-frame windows, 4 held from the last)
C2PA_LIMIT = 1 << 20  # the manifest size the C2PA library signs at most


def stretched_record(seconds: float, prompt_chars: int = 2000, fps: float = 24.0, base_fps: float = 8.0,
                     model: str = "tenku-world") -> ProvenanceRecord:
    """The record of a `seconds`-long take as engine.longtake builds it, with a `prompt_chars` prompt."""
    from engine.request import frame_record  # deferred: loads torch; this module imports without it

    words = "a big red ball rolls slowly to the right across the grass while the camera pans left "
    prompt = (words * (prompt_chars // len(words) + 1))[:prompt_chars]
    gen = Generation(model, prompt, 0, {"steps": 24, "guidance": 5.0, "negative": "blurry, dark",
                                        "read_as": prompt.capitalize()})
    step = fps / base_fps
    total, parts, j = round(seconds * fps), [], 0
    while j < total:  # window by window, as each is delivered
        stop = min(total, j + round(WINDOW * step))
        first = int(j // step)
        pos = np.arange(j, stop) / step - first
        parts.append(frame_record(pos, ["generated"] * (int(np.ceil(pos[-1])) + 1), gen, fps))
        j = stop
    return concatenate(parts, fps)


def version_1_bytes(record: ProvenanceRecord) -> int:
    """The size of `record` in the form written before issue 34 (each range with its own generation)."""
    return len(json.dumps({"version": 1, "fps": record.fps, "frame_count": record.frame_count,
                           "ranges": [r.to_dict() for r in record.ranges], "decisions": record.decisions}))


def record_benchmark(seconds=(10, 60, 600), prompt_chars: int = 2000, log=print) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = ensure_local_chain(Path(tmp) / "config")
        clip = Path(tmp) / "clip.mp4"
        media.write_video(clip, render(sample_scene(random.Random(0)), 64, 64, 24, 24), 24)
        for s in seconds:
            record = stretched_record(s, prompt_chars)
            path = Path(tmp) / f"take-{s:g}.mp4"
            path.write_bytes(clip.read_bytes())
            t = time.perf_counter()
            sign_mp4(path, record, config)
            signing = time.perf_counter() - t
            report = verify_file(path, trust_anchors_pem(Path(tmp) / "config"), sidecar=Path(tmp) / "none.json")
            old = version_1_bytes(record)
            row = {"seconds": s, "frames": record.frame_count, "ranges": len(record.ranges),
                   "prompt_chars": prompt_chars, "record_bytes": len(json.dumps(record.to_dict())),
                   "version_1_bytes": old, "version_1_over_c2pa_limit": old > C2PA_LIMIT,
                   "manifest_bytes": os.path.getsize(path) - os.path.getsize(clip),
                   "sign_s": round(signing, 3), "verified": report.verified,
                   "record_read_back": report.manifest.record == record}
            rows.append(row)
            log(json.dumps(row))
    return {"takes": rows, "summary": {
        "prompt_chars": prompt_chars, "c2pa_limit_bytes": C2PA_LIMIT,
        "record_bytes": {f"{r['seconds']:g}s": r["record_bytes"] for r in rows},
        "version_1_bytes": {f"{r['seconds']:g}s": r["version_1_bytes"] for r in rows},
        "all_signed_and_verified": all(r["verified"] and r["record_read_back"] for r in rows)}}
