"""The one write path for what a model made (issue 27): watermark the frames the record says a model made,
write the video with its sidecar atomically, and sign the MP4 before it takes its place (any re-encode after
signing would strip the manifest). The command line (engine.cli.common.write_result) and the studio's takes
and previews (studio.jobs) publish through here; long takes stream the same steps window by window
(engine.longtake.render_take's `watermark` and `seal` hooks, given `mark` and `sealer`)."""
from __future__ import annotations

import os

import numpy as np

from engine import provenance  # looked up when it signs: the package's name is the one to patch in tests
from engine.provenance.record import ProvenanceRecord
from engine.provenance.watermark import watermark_record_frames
from engine.video import media


def mark(frames: np.ndarray, record: ProvenanceRecord, region=None, best_effort: bool = False) -> np.ndarray:
    """The invisible watermark on the model-made frames (`region`: an inpaint's painted pixels, the only ones
    marked). best_effort: frames too small to carry it (or a missing backend) stay unmarked, the C2PA record
    still says what made them; otherwise that is an error."""
    try:
        return watermark_record_frames(frames, record, region=region)
    except Exception:
        if not best_effort:
            raise
        return frames


def sealer(record: ProvenanceRecord, signer, title: str | None = None):
    """seal(tmp) for the writer: signs the finished temporary MP4 in place before it is moved to its name
    (`signer`: a SignerConfig or a config folder; None: no signing)."""
    if signer is None:
        return None
    return lambda tmp: provenance.sign_mp4(tmp, record, signer, title=title)


def publish(out, frames: np.ndarray, fps: float, record: ProvenanceRecord, sidecar: dict, *, region=None,
            best_effort: bool = False, signer=None, audio_from=None, audio_start: float | None = None,
            marked: bool = True, sound=None) -> tuple[str, np.ndarray]:
    """Mark, write (MP4 + OUT.json, or a PNG folder with its tenku.json) and sign; returns (path, the frames
    as written). The sidecar gets the record as it is after marking (which notes the watermark's scope).
    marked=False: frames marked already or made by no model (an upload, the studio's cut of its takes),
    written and signed as they are. sound: a mix already made for the MP4, or its
    encoded AAC track (see media.write_video)."""
    if marked:
        frames = mark(frames, record, region, best_effort)
    seal = sealer(record, signer, os.path.basename(os.fspath(out))) if media.output_kind(out) == "mp4" else None
    path = media.write_output(out, frames, fps, sidecar={**sidecar, "provenance": record.to_dict()},
                              audio_from=audio_from, audio_start=audio_start, seal=seal, sound=sound)
    return path, frames
