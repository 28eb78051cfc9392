"""Footage coming in: an uploaded clip checked (type, size, a full bounded decode) and kept as a take of the
filmmaker's own footage, every frame "camera", its sound under its frames (issue 32) and a variable frame rate
placed by its frame times; and the decoded frames of the clips being scrubbed, a few kept. The Fill panel
(studio.panels.fill) shows these."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from engine.errors import InputError
from engine.provenance import ProvenanceRecord
from engine.video import media
from engine.video.retime import constant_rate
from studio.jobs import save_take
from studio.naming import take_name
from studio.project import new_id
from studio.soundtracks import footage_sound, sound_only
from studio.uploads import check_size

VIDEO_TYPES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
_CACHE: OrderedDict = OrderedDict()  # take or preview id -> decoded frames, the clips being scrubbed


def frames_of(studio, take_id, path=None) -> np.ndarray:
    """Decoded frames of a take (or, with `path`, of a preview), a few kept for scrubbing."""
    if take_id not in _CACHE:
        _CACHE[take_id] = media.read_video(path or studio.store.path(studio.store.take(take_id)["path"])).frames
        while len(_CACHE) > 4:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(take_id)
    return _CACHE[take_id]


def check_upload(studio, path) -> media.Video:
    """Type, size, then a full decode (bounded in frames and in decoded bytes) before anything is kept."""
    if not path:
        raise InputError("choose a video file to upload")
    name = Path(path).name
    if Path(name).suffix.lower() not in VIDEO_TYPES:
        raise InputError(f"{name} is not a video file; upload {', '.join(VIDEO_TYPES)}")
    check_size(studio, path)
    try:
        video = media.read_video(path, max_frames=studio.max_upload_frames + 1, max_bytes=studio.max_upload_gb * 1e9)
    except media.TooLarge:
        raise
    except InputError as e:  # said of the file by name: where the server keeps uploads is not the user's business
        text = str(e).replace(repr(str(path)), name).replace(str(path), name)
        if "has no video stream" in text:
            raise sound_only(path, name) from None
        if "is not a readable video (" in text:  # the decoder's reason, said once
            raise InputError(f"{name} could not be decoded as video ({text.rsplit('(', 1)[1].rstrip(')')}); it may "
                             "be damaged or cut short") from None
        raise InputError(text) from None
    except Exception as e:
        raise InputError(f"{name} could not be decoded as video ({type(e).__name__})") from None
    if len(video) > studio.max_upload_frames:
        raise InputError(f"{name} has more than {studio.max_upload_frames} frames; trim it first")
    if len(video) < 2:  # a still renamed .mp4 decodes as one frame: nothing to fill or cut
        raise InputError(f"{name} holds one frame; upload a clip (a still animates from the storyboard's Start "
                         "image)")
    return video


def take_in(studio, project_id: str, path) -> tuple[str, media.Video]:
    """An upload checked and kept as a camera take of the project; (its take id, the clip as kept)."""
    raw = check_upload(studio, path)
    video, shown = constant_rate(raw)  # variable frame rate: placed by its frame times, sound in sync
    name = Path(path).name
    rec = ProvenanceRecord.camera(len(raw), source=name, fps=video.fps)
    if video.metadata.get("conformed_from_variable_rate"):
        rec = rec.retime([float(p) for p in shown], video.fps)
    settings = {"prompt": "", "source_file": name, "fps": video.fps, **footage_sound(video)}
    # the take keeps the camera's sound under its frames, read before the upload goes
    tid = save_take(studio.store, project_id, None, video.frames, video.fps, rec, settings, "camera", label=name,
                    mark=False, audio_from=video)
    return tid, video


def take_choices(studio, pid):
    if not pid:
        return []
    out = []
    for t in studio.store.takes(pid):  # named after their shot or file; ids only in the take's details
        what = t["settings"].get("prompt") or t["label"] or t["kind"]
        out.append((f"{take_name(studio.store, t)} · {t['kind']} · {what[:40]}", t["id"]))
    return out


def painted_mask(value, h: int, w: int) -> np.ndarray:
    """The region painted in the page's image editor (its background and layers) as a bool (H, W) mask over
    frames of h x w; an InputError says what is missing or the wrong size."""
    if not value or value.get("background") is None:
        raise InputError("press 'Paint on this frame', then paint the region to repaint")
    bg = np.asarray(value["background"])
    if bg.shape[:2] != (h, w):
        raise InputError(f"the mask is {bg.shape[1]}x{bg.shape[0]} but the clip's frames are {w}x{h}; "
                         "press 'Paint on this frame' and paint on that")
    mask = np.zeros((h, w), bool)
    for layer in (np.asarray(x) for x in value.get("layers") or [] if x is not None):
        if layer.shape[:2] != (h, w):
            raise InputError(f"the painted layer is {layer.shape[1]}x{layer.shape[0]}, the frames are {w}x{h}")
        mask |= (layer[..., 3] > 0) if layer.ndim == 3 and layer.shape[2] == 4 else (layer.reshape(h, w, -1).max(-1)
                                                                                     > 0)
    if not mask.any():
        raise InputError("the mask is empty; paint over the region to repaint")
    return mask


def keep_mask(store, project_id: str, mask: np.ndarray) -> str:
    """The mask saved in the project (a PNG under masks/); its path as the store keeps it."""
    path = store.media(project_id, "masks") / f"{new_id('m')}.png"
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)
    return store.rel(path)
