"""Project exceptions. Each message is written for a clinician: it names the file and the problem."""

from __future__ import annotations


class DermviewError(Exception):
    """Base class of every error a user can cause (bad file, bad setting, missing device)."""


class ImageReadError(DermviewError):
    """An image or mask file cannot be read: missing, empty, damaged or not an image."""


class ImageTooLargeError(ImageReadError):
    """An image is larger than the pixel limit (decompression-bomb guard)."""


class MaskError(DermviewError):
    """A mask does not fit its image (size) or has unusable values."""


class WriteError(DermviewError):
    """An output file cannot be written (read-only folder, disk full, ...)."""


class ParameterError(DermviewError, ValueError):
    """A processing parameter is outside its allowed range."""


class ModelError(DermviewError):
    """A model cannot be loaded or run."""


class WeightsError(ModelError):
    """A weights file is missing, unknown, altered or unsafe."""


class DeviceError(ModelError):
    """The requested compute device (e.g. CUDA) is not available."""
