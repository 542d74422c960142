"""Fonts of the PDF case report: a TrueType family that holds the letters of people's names.

ReportLab's standard Helvetica encodes only WinAnsi (Latin-1): a reviewer "Dr. Łucja
Müller-Ørsted" came out as "Dr. ■ucja Müller-Ørsted". The first family found is embedded
(subset): DejaVu Sans (most Linux systems), Arial (Windows, macOS), else ReportLab's own
Bitstream Vera (always installed with it; Latin-1 plus Ł, Œ, Š, Ž and a few more); Helvetica
only if none of them can be read.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

#: (regular, bold, oblique) file names of each candidate family, best first.
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"),
    ("Arial.ttf", "Arial Bold.ttf", "Arial Italic.ttf"),  # macOS
    ("arial.ttf", "arialbd.ttf", "ariali.ttf"),  # Windows
    ("Vera.ttf", "VeraBd.ttf", "VeraIt.ttf"),  # ReportLab's own
)
#: Folders searched besides ReportLab's font path (which holds its Vera files).
FOLDERS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu-sans-fonts", "/System/Library/Fonts/Supplemental", "/Library/Fonts",
    "C:/Windows/Fonts",
)
#: Used when no TrueType family can be read.
STANDARD = ("Helvetica", "Helvetica-Bold", "Helvetica-Oblique")


def _find(name: str) -> Path | None:
    from reportlab import rl_config

    for folder in (*FOLDERS, *rl_config.TTFSearchPath):
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=1)
def report_fonts() -> tuple[str, str, str]:
    """The (regular, bold, oblique) font names to draw the report with, registered with
    ReportLab on first use."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    for family in FAMILIES:
        paths = [_find(name) for name in family]
        if None in paths:
            continue
        names = tuple(f"dermview-{Path(name).stem}" for name in family)
        try:
            for name, path in zip(names, paths, strict=True):
                pdfmetrics.registerFont(TTFont(name, str(path)))
        except (TTFError, OSError):
            continue
        return names  # type: ignore[return-value]
    return STANDARD


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` broken into lines no wider than ``width`` points, at its own line breaks (a
    review comment of several lines printed its newline as a box), at spaces, and inside a
    word longer than a line (a long file name ran off the page)."""
    return [line for para in (str(text).splitlines() or [""])
            for line in _wrap_line(para.replace("\t", " "), font, size, width)]


def _wrap_line(text: str, font: str, size: float, width: float) -> list[str]:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        trial = f"{line} {word}" if line else word
        if stringWidth(trial, font, size) <= width:
            line = trial
            continue
        if line:
            lines.append(line)
        line = word
        while len(line) > 1 and stringWidth(line, font, size) > width:
            cut = len(line) - 1
            while cut > 1 and stringWidth(line[:cut], font, size) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    lines.append(line)
    return lines


def shorten(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut in the middle with "…" to fit ``width`` points (whole when it fits)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if stringWidth(text, font, size) <= width:
        return text
    keep = len(text)
    while keep > 2:
        keep -= 1
        head, tail = text[: (keep + 1) // 2], text[len(text) - keep // 2:]
        if stringWidth(f"{head}…{tail}", font, size) <= width:
            return f"{head}…{tail}"
    return "…"
