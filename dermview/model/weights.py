"""Weight files: a state dict (``<name>.pt``, tensors only) plus a metadata file
(``<name>.json``) that records the architecture, its config, the input policy and the
SHA-256 of the ``.pt`` file, and optionally an ONNX export of it (``onnx``: ``file``,
``sha256``, ``source_sha256`` = the ``.pt`` it was exported from; see
``training/export_onnx.py`` and :mod:`dermview.model.engines`).

Loading always uses ``torch.load(..., weights_only=True)``, after the SHA-256 check, so a file
carrying pickled code is refused without running anything, and an altered file is refused
before it is parsed.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

from dermview.errors import WeightsError
from dermview.io import atomic_write_bytes, save_json
from dermview.paths import resources_dir

FORMAT = "dermview-weights/1"

#: Bundled default model (weights + metadata + model card).
MODELS_DIR = resources_dir() / "models"  # source tree, or the bundle when frozen
DEFAULT_WEIGHTS = MODELS_DIR / "dermview_default.pt"
DEFAULT_METADATA = DEFAULT_WEIGHTS.with_suffix(".json")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def metadata_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def save_weights(model: Any, path: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Save ``model.state_dict()`` to ``path`` and its metadata beside it.

    Args:
        model: a torch module built by :func:`dermview.model.nets.build_model`.
        path: ``<name>.pt``.
        meta: must hold ``arch`` and ``config`` (kwargs of ``build_model``), ``input_size``
            (side in pixels of the square network input), ``mean`` and ``std`` (RGB, 0-1
            scale); may hold anything else (``name``, ``threshold``, ``metrics``, ...).

    Returns:
        The metadata written, with ``format`` and ``sha256`` filled in.
    """
    import torch

    for key in ("arch", "config", "input_size", "mean", "std"):
        if key not in meta:
            raise ValueError(f"weights metadata needs {key!r}")
    buf = io.BytesIO()
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    full = {"format": FORMAT, **meta, "sha256": hashlib.sha256(data).hexdigest()}
    save_json(metadata_path(path), full)
    return full


def read_metadata(weights: str | Path) -> dict[str, Any]:
    """Read and validate the metadata beside a ``.pt`` weights file (no torch needed).

    An installation that carries only the ONNX export (the packaged app) has the ``.json``
    without the ``.pt``: its metadata is read when it lists an ``onnx`` export."""
    weights = Path(weights)
    meta_file = metadata_path(weights)
    if not weights.is_file():
        if meta_file.is_file():
            meta = read_metadata_file(meta_file)
            if "onnx" in meta:
                return meta
        raise WeightsError(f"Model weights not found: {weights}")
    if not meta_file.is_file():
        raise WeightsError(
            f"{weights.name} has no metadata file ({meta_file.name}) beside it; "
            "unknown weights are not loaded"
        )
    return read_metadata_file(meta_file)


def read_metadata_file(meta_file: str | Path) -> dict[str, Any]:
    """Read and validate a model metadata ``.json`` (the ``.pt`` beside it need not exist:
    an installation may carry only the ONNX export)."""
    meta_file = Path(meta_file)
    if not meta_file.is_file():
        raise WeightsError(f"Model metadata not found: {meta_file}")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{meta_file.name} is not valid model metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise WeightsError(f"{meta_file.name} is not dermview model metadata ({FORMAT})")
    for key in ("arch", "config", "input_size", "mean", "std", "sha256"):
        if key not in meta:
            raise WeightsError(f"{meta_file.name} lacks {key!r}")
    return meta


def onnx_file(meta_file: str | Path, meta: dict[str, Any]) -> tuple[Path, str]:
    """``(path, sha256)`` of the ONNX export listed in the metadata (``onnx`` entry).

    Raises:
        WeightsError: no entry, a malformed one, or an export of other weights than the
            ``.pt`` the metadata describes.
    """
    meta_file = Path(meta_file)
    entry = meta.get("onnx")
    if not isinstance(entry, dict):
        raise WeightsError(f"{meta_file.name} lists no ONNX export")
    name, sha = entry.get("file"), entry.get("sha256")
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".onnx") \
            or not isinstance(sha, str) or len(sha) != 64:
        raise WeightsError(f"{meta_file.name}: malformed 'onnx' entry (file name and sha256)")
    if entry.get("source_sha256") != meta["sha256"]:
        raise WeightsError(
            f"{name} was exported from other weights than {meta_file.with_suffix('.pt').name}; "
            "export it again (python -m training.export_onnx). It was not loaded."
        )
    return meta_file.parent / name, sha


def read_onnx(meta_file: str | Path, meta: dict[str, Any]) -> tuple[Path, bytes, str]:
    """Read the ONNX export listed in the metadata and check its SHA-256 (on the very bytes
    that will be parsed).

    Returns:
        ``(path, data, sha256)``.

    Raises:
        WeightsError: see :func:`onnx_file`; a missing, unreadable or altered file.
    """
    path, sha = onnx_file(meta_file, meta)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WeightsError(f"Model file not found: {path}") from None
    except OSError as exc:
        raise WeightsError(f"Cannot read {path.name}: {exc.strerror or exc}") from None
    if hashlib.sha256(data).hexdigest() != sha:
        # the whole path: which installation's copy (a packaged app's model changed on disk)
        raise WeightsError(
            f"{path} does not match its recorded SHA-256: the file is altered, "
            "truncated or not the one its metadata describes. It was not loaded. A bundled "
            "model comes back when you unpack the dermview archive again (or reinstall); "
            "a model of your own, from its copy or by exporting it again."
        )
    return path, data, sha


def set_onnx_entry(meta_file: str | Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Record an ONNX export (``file``, ``sha256``, ``source_sha256``, ...) in the metadata,
    keeping everything else; returns the metadata written."""
    meta = read_metadata_file(meta_file)
    meta["onnx"] = entry
    save_json(meta_file, meta)
    return meta


def verify_weights(weights: str | Path) -> dict[str, Any]:
    """Check the SHA-256 of a weights file against its metadata; return the metadata.

    Raises:
        WeightsError: missing file or metadata, or a hash mismatch (altered / truncated file).
    """
    meta = read_metadata(weights)
    if not Path(weights).is_file():  # an ONNX-only installation: metadata, no .pt
        raise WeightsError(f"Model weights not found: {weights}")
    try:
        actual = sha256_file(weights)
    except OSError as exc:
        raise WeightsError(f"Cannot read {Path(weights).name}: {exc.strerror or exc}") from None
    if actual != meta["sha256"]:
        raise WeightsError(
            f"{Path(weights).name} does not match its recorded SHA-256: the file is altered, "
            "truncated or not the one its metadata describes. It was not loaded."
        )
    return meta


def is_classifier(meta: dict[str, Any]) -> bool:
    """Whether metadata describes the lesion classifier (it cannot segment)."""
    return bool(meta.get("classes")) or meta.get("arch") == "lesionhead"


def delete_user_model(weights: str | Path) -> list[Path]:
    """Delete a model the user trained (``dermview finetune``'s ``.pt``, its ONNX export and
    its ``.json`` metadata); returns the files removed (metadata last, so an interrupted
    delete leaves a model that is still listed and can be deleted again).

    Raises:
        WeightsError: the metadata is unreadable, or the model was not trained by the user
            (the bundled models are never deleted)."""
    path = Path(weights)
    meta_file = metadata_path(path)
    meta = read_metadata_file(meta_file)
    if not meta.get("user_trained"):
        raise WeightsError(f"{path.name} is not a model trained here; it was not deleted")
    files = [path]
    entry = meta.get("onnx")
    if isinstance(entry, dict) and isinstance(entry.get("file"), str) \
            and Path(entry["file"]).name == entry["file"]:
        files.append(path.parent / entry["file"])
    files.append(meta_file)
    removed = []
    for f in files:
        if f.is_file():
            f.unlink()
            removed.append(f)
    return removed


def segmentation_weights_problem(weights: str | Path) -> str | None:
    """Why ``weights`` cannot be used to segment, in one sentence, or None when it can.

    Checks what loading would check, without torch: the metadata, the SHA-256 of the ``.pt``
    (or, in an installation that carries only the ONNX export, of that export), and that it
    is a segmentation model, not the lesion classifier."""
    path = Path(weights)
    try:
        if path.is_file():
            meta = verify_weights(path)
        else:
            meta = read_metadata(path)
            read_onnx(metadata_path(path), meta)
    except WeightsError as exc:
        return str(exc)
    if is_classifier(meta):
        return f"{path.name} is the lesion classifier, not a segmentation model"
    return None


def load_model(weights: str | Path, device: Any = "cpu") -> tuple[Any, dict[str, Any]]:
    """Verify, then load a weights file into a fresh network in eval mode.

    Returns:
        ``(model, metadata)``; the model is on ``device``.
    """
    import pickle

    import torch

    from dermview.model.blocks import load_state
    from dermview.model.nets import build_model

    meta = verify_weights(weights)
    name = Path(weights).name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol chatter
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            # Never echo torch's text here: it suggests retrying with weights_only=False.
            raise WeightsError(
                f"{name} contains objects other than tensors (possibly code) and was refused. "
                "Use only weights from a trusted source."
            ) from None
        raise WeightsError(f"{name} is damaged or not a weights file and was not loaded") from None
    except MemoryError:
        raise WeightsError(f"{name} is damaged (it asks for too much memory)") from None
    except Exception:  # noqa: BLE001 - zip/storage errors on a damaged file
        raise WeightsError(f"{name} is damaged or not a weights file and was not loaded") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise WeightsError(f"{name} is not a state dict of named tensors and was not loaded")
    try:
        model = build_model(meta["arch"], **meta["config"])
        load_state(model, state)
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise WeightsError(
            f"{name} does not fit architecture {meta['arch']!r}: "
            f"{str(exc).strip().splitlines()[0][:200]}"
        ) from None
    return model.to(device).eval(), meta
