"""The canvas both pictures are drawn on: a matplotlib figure (Agg, no display needed) of an exact pixel
size with axes placed in pixels, the :class:`PlotInfo` recording where things landed, the shared
colours and size limits, and :func:`write_png`, which saves a figure atomically."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "DPI",
    "MAX_HEIGHT",
    "MAX_WIDTH",
    "MIN_HEIGHT",
    "MIN_WIDTH",
    "SECTION_COLOR",
    "Layout",
    "PlotInfo",
    "check_size",
    "section_label",
    "write_png",
]

DPI = 100
SECTION_COLOR = "#e8311a"  # section markers, the same red on both pictures
MIN_WIDTH, MAX_WIDTH = 400, 20000
MIN_HEIGHT, MAX_HEIGHT = 300, 20000


@dataclass
class PlotInfo:
    """Where things landed in the picture, in pixels from its top-left corner."""

    width_px: int
    height_px: int
    section_px: list[float] = field(default_factory=list)  # x of each section marker drawn
    # name -> (left, top, right, bottom) of each axes
    axes_px: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    chords: list[tuple[float, float, str]] = field(default_factory=list)  # the roll's chord names


class Layout:
    """Axes placed in pixels (top-left origin) on a figure of exactly ``width`` x ``height`` pixels."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
        FigureCanvasAgg(self.fig)
        self.info = PlotInfo(width, height)

    def axes(self, name: str, left: float, top: float, width: float, height: float) -> Axes:
        w, h = self.width, self.height
        ax = self.fig.add_axes((left / w, 1.0 - (top + height) / h, width / w, height / h))
        self.info.axes_px[name] = (left, top, left + width, top + height)
        return ax

    def x_px(self, ax: Axes, x: float) -> float:
        return float(ax.transData.transform((x, 0.0))[0])

    def header(self, title: str, details: str, left: float) -> None:
        self.fig.text(left / self.width, 1 - 10 / self.height, title, fontsize=15, weight="bold", va="top")
        self.fig.text(
            left / self.width, 1 - 34 / self.height, details, fontsize=10, color="#555555", va="top"
        )


def check_size(width_px: int, height_px: int | None = None) -> None:
    """Refuse (ValueError) a picture size outside :data:`MIN_WIDTH`..:data:`MAX_WIDTH` (and the heights)."""
    if not MIN_WIDTH <= width_px <= MAX_WIDTH:
        raise ValueError(f"width must be in {MIN_WIDTH}..{MAX_WIDTH} pixels, got {width_px}")
    if height_px is not None and not MIN_HEIGHT <= height_px <= MAX_HEIGHT:
        raise ValueError(f"height must be in {MIN_HEIGHT}..{MAX_HEIGHT} pixels, got {height_px}")


def section_label(ax: Axes, x: float, name: str, color: str, y: float = 1.02) -> None:
    """A section's name in a coloured box just above ``ax``, starting at ``x``."""
    ax.text(
        x, y, f" {name} ", transform=ax.get_xaxis_transform(), fontsize=9, color="white", weight="bold",
        va="bottom", ha="left", clip_on=False,
        bbox={"boxstyle": "square,pad=0.15", "facecolor": color, "edgecolor": "none"},
    )  # fmt: skip


def _new_file_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def write_png(fig: Figure, path: str | os.PathLike[str], publish: bool = True) -> Path:
    """Save ``fig`` as a PNG of its exact pixel size: into a temporary file beside ``path``, flushed, then
    renamed over ``path``. With ``publish=False`` the temporary file's path is returned instead, to be
    renamed (``os.replace``) by the caller once everything else it writes is ready."""
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a directory")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=DPI, metadata={"Software": "StrumSpace"})
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode(target))
        if not publish:
            return Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
