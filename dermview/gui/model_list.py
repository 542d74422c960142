"""The segmentation models the app knows (Model → Models…): bundled, fine-tuned into the
per-user models folder, or added from elsewhere, each with where it came from and its held-out
Dice, read from its metadata (no Qt, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dermview import paths


def user_models_dir() -> Path:
    """Where fine-tuned models are written by default (per user, never the install folder)."""
    return paths.user_data_dir() / "models"


@dataclass(frozen=True)
class ModelEntry:
    """One model file and where it came from (read from its metadata)."""

    path: Path
    name: str
    sha256: str
    user_trained: bool
    origin: str  # one line for the list
    heldout: str  # "0.901 → 0.915 on 31 of your labels (better)", "0.906 on 323 validation images" or ""
    #: its ``model_provenance`` for the labels it makes (:func:`user_trained_mark`); None
    #: for a bundled model
    mark: dict | None = None
    #: :meth:`label` of a model listed before it with the same weights (SHA-256), else ""
    same_as: str = ""

    def label(self) -> str:
        """The name and the file, "clinic (clinic-2.pt)": runs on one folder share a name."""
        return f"{self.name} ({self.path.name})"

    @classmethod
    def read(cls, path: Path) -> ModelEntry | None:
        """The entry of a segmentation model; None for an unreadable file or a model that
        does not segment (the bundled lesion classifier, whose metadata has ``classes``)."""
        from dermview.model.provenance import made_from, user_trained_mark
        from dermview.model.weights import is_classifier, read_metadata

        try:
            meta = read_metadata(path)
        except Exception:  # noqa: BLE001 - an unreadable file is just not listed
            return None
        if is_classifier(meta):
            return None  # using it to segment failed: "unknown resize policy 'lesion-crop'"
        ft = meta.get("finetune") or {}
        mark = user_trained_mark(meta)
        if mark is not None:
            when = str(meta.get("training", {}).get("finished", ""))[:16].replace("T", " ")
            folder = Path(str(ft.get("image_dir", "?"))).name
            # a run without a training step changes no weight: "fine-tuned on 32 labels" was
            # not true of it (trial finding)
            origin = (f"{made_from(mark)} of {folder}" + (f" ({when})" if when else "")
                      if ft else "fine-tuned (its metadata does not say from what)")
            sc = ft.get("scores", {})
            # on what: beside a bundled model's validation Dice the two read as one measure
            n = int(sc.get("new", {}).get("n", 0) or 0)
            on = f" on {n} of your labels" if n else " on your labels"
            heldout = (f"{sc['base']['dice']:.3f} → {sc['new']['dice']:.3f}{on} "
                       f"({'better' if ft.get('improved') else 'not better'})"
                       if "base" in sc and "new" in sc else "")
        else:
            # its Dice on the validation split it was chosen on (training metadata): the
            # column read "—" beside About's "validation Dice 0.906" (trial finding)
            m = meta.get("metrics") or {}
            n = sum(int(v.get("n", 0)) for v in (m.get("per_source") or {}).values()
                    if isinstance(v, dict))
            origin = "bundled with dermview"
            heldout = (f"{float(m['dice']):.3f} on " + (f"{n} validation images" if n else "the validation split")
                       if m.get("split") == "val" and isinstance(m.get("dice"), (int, float))
                       else "")
        return cls(path, str(meta.get("name") or path.stem), str(meta["sha256"]),
                   mark is not None, origin, heldout, mark)


def list_models(extra: list[Path] | None = None) -> list[ModelEntry]:
    """The bundled models, the per-user fine-tuned ones and ``extra`` files (each once).

    Bundled models are found by their metadata: the packaged app carries the ``.json`` and
    the ONNX export without the ``.pt`` (the path listed is still the ``.pt``'s)."""
    files = sorted(m.with_suffix(".pt") for m in paths.models_dir().glob("*.json"))
    folder = user_models_dir()
    files += sorted(folder.glob("*.pt")) if folder.is_dir() else []
    files += [Path(p) for p in extra or []]
    seen: set[Path] = set()
    first_of: dict[str, ModelEntry] = {}  # SHA-256 → the first model with those weights
    out = []
    for f in files:
        key = f.resolve()
        if key in seen:
            continue
        seen.add(key)
        info = ModelEntry.read(f)
        if info is None:
            continue
        # runs without a training step write the same weights every time: the list showed
        # copies with nothing to tell them apart from different models
        twin = first_of.setdefault(info.sha256, info)
        out.append(info if twin is info else replace(info, same_as=twin.label()))
    return out


def same_weights(path: Path, models: list[ModelEntry]) -> ModelEntry | None:
    """The first of ``models`` other than ``path`` whose weights are those of ``path`` (same
    SHA-256), or None. ``path``'s own entry is taken from ``models`` when listed there."""
    key = path.resolve()
    info = next((m for m in models if m.path.resolve() == key), None) or ModelEntry.read(path)
    if info is None:
        return None
    return next((m for m in models if m.sha256 == info.sha256 and m.path.resolve() != key), None)
