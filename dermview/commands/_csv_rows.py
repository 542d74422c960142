"""``dermview segment --csv FILE``: one row per segmented image, written as it is done.

Columns :data:`COLUMNS`: ``id`` (image stem), ``mask`` (the mask file written), ``confidence``
(estimated Jaccard with an expert's outline, :func:`dermview.confidence.estimate_jaccard`,
4 decimals), ``seconds`` (wall time of that image, load to save, 3 decimals).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from dermview.errors import WriteError

COLUMNS = ("id", "mask", "confidence", "seconds")


class SegmentCsv:
    """Append-as-you-go CSV of a batch run (flushed after every row, so an interrupted run
    keeps what it finished). Use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # kept open across rows, closed by close() / the with-block
            self._fh: TextIO = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise WriteError(f"Cannot write the CSV file {self.path}: {exc.strerror or exc}") from None
        self._writer = csv.writer(self._fh)
        self._writer.writerow(COLUMNS)
        self._fh.flush()

    def write(self, image_id: str, mask: str | Path, confidence: float, seconds: float) -> None:
        """One image's row."""
        self._writer.writerow([image_id, str(mask), f"{confidence:.4f}", f"{seconds:.3f}"])
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> SegmentCsv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
