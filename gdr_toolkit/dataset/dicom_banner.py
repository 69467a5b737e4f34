"""An optional burned-in banner for synthetic DICOM series (off by default; documentation/dicom.md).

The text is rendered once per slice size with matplotlib's Agg canvas (no display, no font download:
matplotlib ships DejaVu Sans) into a boolean mask at the top-left corner of the slice, which a viewer
shows at the top left whatever its overlays. The writer then sets the masked pixels to the top of the
series' display window and BurnedInAnnotation to ``YES``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

BANNER_TEXT = "SYNTHETIC - NOT FOR DIAGNOSIS"
DOTS_PER_INCH = 100
POINTS_PER_INCH = 72
CHARACTER_WIDTH_EM = 0.62  # DejaVu Sans capitals, average advance per em
MIN_TEXT_HEIGHT_PX = 6  # below this the text is unreadable: no banner
INK_THRESHOLD = 192  # red channel of the rendered (anti-aliased) text below which a pixel is ink


@lru_cache(maxsize=8)
def banner_mask(rows: int, columns: int, text: str = BANNER_TEXT) -> np.ndarray:
    """(rows, columns) bool mask of ``text`` at the top left, as tall as 1/24 of the rows and narrow
    enough to fit the width; all False when the slice is too small for a readable text."""
    height_px = min(rows / 24, columns / (CHARACTER_WIDTH_EM * len(text) + 2))
    mask = np.zeros((rows, columns), dtype=bool)
    if height_px < MIN_TEXT_HEIGHT_PX:
        return mask
    figure = Figure(figsize=(columns / DOTS_PER_INCH, rows / DOTS_PER_INCH), dpi=DOTS_PER_INCH)
    canvas = FigureCanvasAgg(figure)
    margin = height_px / 2
    figure.text(margin / columns, 1 - margin / rows, text, ha="left", va="top", color="black",
                fontsize=height_px * POINTS_PER_INCH / DOTS_PER_INCH, family="DejaVu Sans")  # fmt: skip
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[:rows, :columns, 0]
    mask[: pixels.shape[0], : pixels.shape[1]] = pixels < INK_THRESHOLD
    return mask
