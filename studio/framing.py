"""How a shot frames its start image (issue 31: a still of another aspect was cropped without a word): the still
as the shot's canvas will hold it, cropped to fill (the default) or letterboxed whole, shown before any render;
the choice is kept with the shot (`fit`) and the render frames the still the same way."""
from __future__ import annotations

import numpy as np

from engine.request import ASPECTS
from engine.sampling.conditioning import crop_window, fit_frames, letterbox_frames

FITS = ("crop", "letterbox")


def framed(img: np.ndarray, aspect: str, fit: str) -> np.ndarray:
    """The still (H, W, 3) on the canvas of `aspect`, cropped to fill or letterboxed."""
    w, h = ASPECTS.get(aspect, ASPECTS["16:9"])
    return (letterbox_frames if fit == "letterbox" else fit_frames)(img[None], w, h)[0]


def said(img: np.ndarray, aspect: str, fit: str) -> str:
    """What happens to the still, in words: kept whole, or what is cut off or barred."""
    H, W = img.shape[:2]
    w, h = ASPECTS.get(aspect, ASPECTS["16:9"])
    if abs(W / H - w / h) < 0.01:
        return f"the still is {W}x{H}, the shot's {aspect} shape: kept whole"
    if fit == "letterbox":
        bars = "top and bottom" if W / H > w / h else "left and right"
        return f"the still is {W}x{H}: kept whole in the {aspect} shot, with black bars {bars}"
    x0, y0, cw, ch = crop_window(W, H, w, h)
    cut = f"{W - cw} px of its width" if cw < W else f"{H - ch} px of its height"
    return f"the still is {W}x{H}: the {aspect} shot crops {cut} (choose letterbox to keep it whole)"
