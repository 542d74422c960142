"""Which dermatoscope's calibration a saved label was measured with (its sidecar's
``lesion.scale_source``: ``"calibration:<device>"``), and what the Scale box says when
another device is chosen now (Qt-free)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_PREFIX = "calibration:"


def label_device(meta: Mapping[str, Any] | None) -> str | None:
    """The device whose calibration measured the saved label, or ``None`` (measured in px,
    with a DICOM file's spacing, or no analysis saved)."""
    lesion = (meta or {}).get("lesion")
    src = lesion.get("scale_source") if isinstance(lesion, Mapping) else None
    if isinstance(src, str) and src.startswith(_PREFIX):
        return src[len(_PREFIX):].strip() or None
    return None


def other_device_note(meta: Mapping[str, Any] | None, device: str) -> str:
    """"" unless the saved label was measured with another device's calibration than
    ``device``'s (the one in use): then what to do to measure it as it was measured."""
    saved = label_device(meta)
    if saved is None or saved == device:
        return ""
    return (f"; this label was measured with the calibration of {saved}: choose {saved} "
            "to measure it so")
