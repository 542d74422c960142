"""Where a segmentation model came from, for sidecars and reports: a user-trained (fine-tuned)
model is marked as such wherever its masks go."""

from __future__ import annotations

from typing import Any


def user_trained_mark(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The ``model_provenance`` entry of a user-trained model's metadata, else None.

    Returns ``{"user_trained": True, "name", "parent", "parent_sha256", "labels", "trained",
    "improved"}`` (``labels``: how many labels the run used; ``trained``: False for a run
    without a training step, whose model is the parent with per-image colour standardisation
    and whose labels only scored it; ``improved``: its own held-out verdict)."""
    if not meta.get("user_trained"):
        return None
    parent = meta.get("parent") or {}
    ft = meta.get("finetune") or {}
    return {"user_trained": True, "name": str(meta.get("name") or ""),
            "parent": str(parent.get("name") or ""),
            "parent_sha256": str(parent.get("sha256") or ""),
            "labels": len(ft.get("labels") or []),
            "trained": (meta.get("training") or {}).get("steps_per_run") != 0,
            "improved": ft.get("improved")}


def made_from(mark: dict[str, Any]) -> str:
    """How a user-trained model (its :func:`user_trained_mark`) was made, in words:
    ``"fine-tuned from P on N labels"``, or for a run without a training step (the parent with
    per-image colour standardisation, no weight changed) ``"P with per-image colour
    standardisation (no training step), scored on N labels"``."""
    parent, n = mark.get("parent") or "?", mark.get("labels", "?")
    if mark.get("trained") is False:
        return f"{parent} with per-image colour standardisation (no training step), scored on {n} labels"
    return f"fine-tuned from {parent} on {n} labels"


def describe_model(name: str, sha256: str, mark: dict[str, Any] | None = None) -> str:
    """One line for a report: ``"NAME (SHA-256 0123456789ab…)"``, plus ``"; USER-TRAINED: …"``
    (:func:`made_from`) when ``mark`` (a :func:`user_trained_mark`) says so."""
    text = f"{name} (SHA-256 {sha256[:12]}…)"
    if mark and mark.get("user_trained"):
        text += f"; USER-TRAINED: {made_from(mark)}"
    return text
