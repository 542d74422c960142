"""Import the DICOM libraries in the calling thread before worker threads need them.

pydicom and highdicom import lazily (``dermview.dicom``, ``dermview.exchange.dicom_seg``).
When two threads of a batch import them for the first time at once (one reading a DICOM
image, another writing a DICOM SEG), one of them can see a partially initialised module:
``ImportError: cannot import name 'Dataset' from partially initialized module
'pydicom.dataset'``, and the image is skipped. :func:`preload_dicom` imports them first.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def needs_dicom(paths: Iterable[Path], writes_seg: bool = False) -> bool:
    """True when a batch over ``paths`` will read a DICOM file or write a DICOM SEG."""
    if writes_seg:
        return True
    from dermview.dicom import is_dicom_file

    return any(is_dicom_file(p) for p in paths)


def preload_dicom(writes_seg: bool = False) -> None:
    """Import pydicom (and highdicom, for ``writes_seg``) with the modules dermview uses;
    a no-op where they are not installed (the reader says so per image)."""
    try:
        import pydicom  # noqa: F401
        import pydicom.dataset  # noqa: F401
        import pydicom.pixels  # noqa: F401
        import pydicom.uid  # noqa: F401

        if writes_seg:
            import highdicom  # noqa: F401
            import pydicom.sr.codedict  # noqa: F401
    except ImportError:
        pass
