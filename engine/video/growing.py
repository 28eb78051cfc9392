"""A growing MP4: a fragmented H.264 file that plays while frames are appended (engine.longtake's
OUT.partial.mp4), and its remux into an ordinary fast-start MP4 once finished."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.video.media import _remove, even_pad, parse_fps, placing_mp4


class GrowingMP4:
    """A fragmented H.264 MP4 (one fragment per frame), playable while it grows."""

    def __init__(self, path: Path, width: int, height: int, fps: float):
        import av  # deferred: PyAV is heavy; this module imports without it

        self.path, self.count = path, 0
        self.container = av.open(str(path), "w", format="mp4", container_options={
            "movflags": "frag_keyframe+empty_moov+default_base_moof+frag_every_frame", "flush_packets": "1"})
        rate = parse_fps(fps)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = width + width % 2, height + height % 2
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = 1 / rate
        # zerolatency: every frame leaves the encoder at once (no lookahead, no B-frames)
        self.stream.options = {"crf": "17", "preset": "veryfast", "tune": "zerolatency", "g": str(4 * round(fps))}

    def write(self, frames: np.ndarray) -> None:
        import av  # deferred: PyAV is heavy; this module imports without it

        if len(frames) == 0:
            return
        for f in even_pad(np.asarray(frames)):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(format="yuv420p")
            vf.pts, vf.time_base = self.count, self.stream.codec_context.time_base
            self.container.mux(self.stream.encode(vf))
            self.count += 1

    def close(self) -> None:
        if self.container is not None:
            self.container.mux(self.stream.encode(None))
            self.container.close()
            self.container = None


def finish_growing(partial: Path, out, frames: int, seal=None) -> None:
    """Remux the fragmented file into an ordinary, fast-start MP4 at `out` (no re-encode), atomically;
    `seal(path)` is called on the remuxed file before it takes `out`'s place."""
    import av  # deferred: PyAV is heavy; this module imports without it

    with placing_mp4(os.fspath(out), frames, seal) as tmp:
        with av.open(str(partial)) as src, av.open(tmp, "w", format="mp4",
                                                   container_options={"movflags": "+faststart"}) as dst:
            s_in = src.streams.video[0]
            s_out = dst.add_stream_from_template(s_in)
            for packet in src.demux(s_in):
                if packet.dts is None:
                    continue
                packet.stream = s_out
                dst.mux(packet)
    _remove(str(partial))
