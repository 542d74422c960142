"""JSON files: numpy-aware encoding, atomic UTF-8 writing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from dermview.errors import WriteError
from dermview.io.atomic import PathLike, atomic_write_bytes


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays as plain numbers and lists, paths as
    strings, sets as lists, objects with ``to_dict()`` (parameter dataclasses) as dicts."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON, atomically (numpy values become plain numbers).

    Raises:
        WriteError: the object cannot be written as JSON, or the file cannot be written.
    """
    try:
        text = json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False,
                          default=json_default, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise WriteError(f"Cannot save {Path(path).name}: {exc}") from None
    atomic_write_bytes(path, text.encode("utf-8"))

