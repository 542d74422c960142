"""A worklist kept in step with its folder: images added there join it, those deleted, renamed
or moved leave it (Qt-free; the app's session controller calls it when the folder changes)."""

from __future__ import annotations

from pathlib import Path

from dermview.wording import counted


def synced_worklist(old: list[Path], images: list[Path], folder: Path,
                    keep: Path | None = None) -> tuple[list[Path], list[Path], list[Path]]:
    """The worklist ``old`` after its ``folder`` came to hold ``images`` (``list_images``'s
    order): ``(new worklist, added, gone)``. Images of other folders and ``keep`` (the open
    one) stay; ``gone`` is in the worklist's order. In the folder's order when the worklist
    still was (the new ones take their place), else the added ones go last (a worklist
    sorted by confidence keeps its order)."""
    listed, known = set(images), set(old)  # sets: a 2,000-image folder
    added = [p for p in images if p not in known]
    gone = [p for p in old if p.parent == folder and p not in listed and p != keep]
    if not added and not gone:
        return list(old), [], []
    gone_set = set(gone)
    kept = [p for p in old if p not in gone_set]
    kept_set = known - gone_set
    in_order = [p for p in kept if p in listed] == [p for p in images if p in kept_set]
    new = list(images) + [p for p in kept if p not in listed] if in_order else kept + added
    return new, added, gone


def folder_change_text(folder: Path, added: list[Path], gone: list[Path]) -> str:
    """The status-bar line of :func:`synced_worklist`'s change ("" when none)."""

    def names(paths: list[Path]) -> str:
        return ", ".join(p.name for p in paths[:3]) + (", …" if len(paths) > 3 else "")

    said = [f"{counted(len(added), 'new image')} added to the worklist ({names(added)})"] if added else []
    said += [f"{counted(len(gone), 'image')} no longer there (deleted, renamed or moved: "
             f"{names(gone)})"] if gone else []
    return f"{folder.name} changed: " + "; ".join(said) if said else ""
