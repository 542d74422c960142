"""``--csv FILE`` of the batch commands: one row per image, written as it is done.

``dermview segment``, columns :data:`COLUMNS`: ``id`` (image stem), ``mask`` (the mask file
written), ``confidence`` (estimated Jaccard with an expert's outline,
:func:`dermview.confidence.estimate_jaccard`, 4 decimals), ``seconds`` (wall time of that
image, load to save, 3 decimals).

``dermview preprocess``, columns :data:`PREPROCESS_COLUMNS`: ``id``, ``image`` (the file
written), ``hair_count`` (N), ``repair`` (``pde``, ``bilinear`` or ``none``: N against T),
``hair_pixels`` and ``frame_pixels`` (at the image's size), ``seconds``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from dermview.errors import WriteError

COLUMNS = ("id", "mask", "confidence", "seconds")
PREPROCESS_COLUMNS = ("id", "image", "hair_count", "repair", "hair_pixels", "frame_pixels", "seconds")


class BatchCsv:
    """Append-as-you-go CSV of a batch run (flushed after every row, so an interrupted run
    keeps what it finished). Use as a context manager."""

    def __init__(self, path: str | Path, columns: tuple[str, ...] = COLUMNS) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # kept open across rows, closed by close() / the with-block
            self._fh: TextIO = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise WriteError(f"Cannot write the CSV file {self.path}: {exc.strerror or exc}") from None
        self._writer = csv.writer(self._fh)
        self._writer.writerow(columns)
        self._fh.flush()

    def write(self, image_id: str, mask: str | Path, confidence: float, seconds: float) -> None:
        """One image's row of ``dermview segment``."""
        self.write_row([image_id, str(mask), f"{confidence:.4f}", f"{seconds:.3f}"])

    def write_row(self, values: list[object]) -> None:
        """One image's row, the values in the order of the columns."""
        self._writer.writerow(values)
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> BatchCsv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
