"""``--csv FILE`` of the batch commands: one row per image, written as it is done.

``dermview segment``, columns :data:`COLUMNS`: ``id`` (image stem), ``mask`` (the mask file
written), ``confidence`` (estimated Jaccard with an expert's outline,
:func:`dermview.confidence.estimate_jaccard`, 4 decimals), ``seconds`` (wall time spent on
that image, load to save, without the waits in the batch's queues, 3 decimals).

``dermview preprocess``, columns :data:`PREPROCESS_COLUMNS`: ``id``, ``image`` (the file
written), ``hair_count`` (N), ``repair`` (``pde``, ``bilinear`` or ``none``: N against T),
``hair_pixels`` and ``frame_pixels`` (at the image's size), ``seconds``.

An existing FILE is not replaced without ``--overwrite`` (as the outputs): its rows are kept
and this run's rows added, a row of an image done again replacing its old one.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import TextIO

from dermview.errors import WriteError

COLUMNS = ("id", "mask", "confidence", "seconds")
PREPROCESS_COLUMNS = ("id", "image", "hair_count", "repair", "hair_pixels", "frame_pixels", "seconds")


class BatchCsv:
    """Append-as-you-go CSV of a batch run (flushed after every row, so an interrupted run
    keeps what it finished). Use as a context manager."""

    def __init__(self, path: str | Path, columns: tuple[str, ...] = COLUMNS,
                 keep: bool = False) -> None:
        """``keep``: an existing file's rows stay (the commands pass ``not --overwrite``)."""
        self.path = Path(path)
        self._old = _old_rows(self.path, columns) if keep else []
        self._ids: set[str] = set()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # kept open across rows, closed by close() / the with-block
            self._fh: TextIO = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise WriteError(f"Cannot write the CSV file {self.path}: {exc.strerror or exc}") from None
        self._columns = columns
        self._writer = csv.writer(self._fh)
        self._writer.writerow(columns)
        self._writer.writerows(self._old)
        self._fh.flush()

    def write(self, image_id: str, mask: str | Path, confidence: float, seconds: float) -> None:
        """One image's row of ``dermview segment``."""
        self.write_row([image_id, str(mask), f"{confidence:.4f}", f"{seconds:.3f}"])

    def write_row(self, values: list[object]) -> None:
        """One image's row, the values in the order of the columns."""
        self._ids.add(str(values[0]))
        self._writer.writerow(values)
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
        if not any(row[0] in self._ids for row in self._old):
            return
        # an image done again: its old row goes (the file is rewritten whole, then renamed)
        with open(self.path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        n_old = len(self._old)
        kept = [r for r in rows[1:n_old + 1] if r[0] not in self._ids] + rows[n_old + 1:]
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([rows[0], *kept])
        os.replace(tmp, self.path)

    def __enter__(self) -> BatchCsv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _old_rows(path: Path, columns: tuple[str, ...]) -> list[list[str]]:
    """The rows of an existing CSV of the same columns; another file is refused."""
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise WriteError(f"Cannot read the existing CSV file {path}: {exc}") from None
    if rows and tuple(rows[0]) != columns:
        raise WriteError(f"{path} exists with other columns (not this command's CSV): give "
                         "another --csv file, or --overwrite to replace it")
    return [r for r in rows[1:] if r]
