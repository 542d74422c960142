"""The open image and everything derived from it, kept apart from the views (napari-like).

A :class:`Document` holds the image, its preprocessing preview, the model's probability map,
the working mask with its undo history, the optional reference mask and where the label is
saved. Views listen to its signals; edits go through its ``undo_stack``. No drawing here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui

from dermview import editing, label_policy, label_watch, labels
from dermview.dicom import ImageInfo
from dermview.editing import MaskPatch
from dermview.errors import DermviewError
from dermview.gui import provenance
from dermview.gui.commands import (
    HAND_KINDS,
    EditKind,
    MaskCommand,
    RecoveredCommand,
    push_mask,
)
from dermview.gui.model_info import ModelInfo
from dermview.image_prefetch import Prefetched
from dermview.io import load_image_info
from dermview.label_status import label_source
from dermview.masks import Rect
from dermview.preprocess.params import PreprocessParams

PREDICTION_TEXT = "Apply model prediction"


class Document(QtCore.QObject):
    """State of the image under review.

    Signals:
        image_changed(): a new image was opened (or closed).
        prob_changed(): a new probability map (or none).
        mask_changed(r0, r1, c0, c1): the working mask changed inside this rectangle.
        dirty_changed(bool): unsaved edits appeared / were saved.
        reference_changed(): the reference (ground-truth) mask changed.
        threshold_changed(float): undo/redo restored another probability threshold.
        review_changed(): the review state or comment changed.
    """

    image_changed = QtCore.Signal()
    prob_changed = QtCore.Signal()
    mask_changed = QtCore.Signal(int, int, int, int)
    dirty_changed = QtCore.Signal(bool)
    reference_changed = QtCore.Signal()
    threshold_changed = QtCore.Signal(float)
    review_changed = QtCore.Signal()

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.image: np.ndarray | None = None
        #: What the image file says about itself (a DICOM file's pixel spacing and UIDs).
        self.info = ImageInfo()
        self.preview: Any = None  # dermview.preprocess.Preprocessed (maybe of a downscaled copy)
        self.preview_params: PreprocessParams | None = None
        self.prob: np.ndarray | None = None
        self.threshold = 0.5
        self.model = ModelInfo()
        self.mask = np.zeros((1, 1), bool)
        self.reference: np.ndarray | None = None
        self.reference_path: Path | None = None
        self.labels_dir: Path | None = None  # None = "labels/" beside the image
        self.label_meta: dict[str, Any] | None = None  # sidecar of the loaded label
        self.label_loaded = False
        self._opened_from_model = False  # the opened label was a model's (see open)
        self._opened_imported = False  # the opened label came from another tool (see open)
        self._silent_prediction = False  # a prediction equal to the mask (no undo step)
        #: label_watch.label_fingerprint of the label path when this document last read or wrote it
        self._label_seen: str | None = None
        self.undo_stack = QtGui.QUndoStack(self)
        self.undo_stack.cleanChanged.connect(lambda clean: self.dirty_changed.emit(not clean))
        self._sha256: str | None = None
        self._base_edits = (0, 0, False)
        self.reference_error = ""
        self.label_error = ""  # why an existing label could not be loaded
        #: Incremented on every change of the working mask.
        self.mask_version = 0
        self._sidecar_fields: dict[str, Callable[[], Any]] = {}
        self.review_state: str | None = None  # labels.REVIEW_STATES
        self.review_comment = ""
        #: (verdict, who gave it, mask digest) of the label as opened or last saved (verdict_by)
        self._verdict_seen: tuple[str | None, str, bytes] = (None, "", b"")
        self.reviewer = ""  # who saves: the Review panel's name ("" = the login name)

    # -- state --------------------------------------------------------------------------------
    @property
    def has_image(self) -> bool:
        return self.image is not None

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape  # type: ignore[return-value]

    @property
    def dirty(self) -> bool:
        return self.has_image and not self.undo_stack.isClean()

    @property
    def label_paths(self) -> tuple[Path, Path]:
        assert self.path is not None
        return labels.label_paths(self.path, self.labels_dir)

    def image_sha256(self) -> str:
        """SHA-256 of the open image's file, taken when it was opened."""
        assert self._sha256 is not None
        return self._sha256

    # -- opening ------------------------------------------------------------------------------
    def open(self, path: str | Path, labels_dir: Path | None = None,
             reference_dir: Path | None = None, ahead: Prefetched | None = None) -> None:
        """Load an image (``ahead``: as read ahead, :mod:`dermview.image_prefetch`) and, if
        present, its saved label and reference mask.

        Raises:
            DermviewError subclasses: unreadable image (the document is left unchanged; a
            label that cannot be used, damaged or of another size, is skipped: label_error)."""
        path = Path(path)
        image, info = (ahead.image, ahead.info) if ahead else load_image_info(path)
        # hashed now, not at the first save: the label must name the image that was shown,
        # even when the file is then renamed, deleted or replaced by another program
        sha256 = ahead.sha256 if ahead else labels.image_sha256(path)
        shape = image.shape[:2]
        self.label_error = ""
        seen = label_watch.label_fingerprint(path, labels_dir)  # before reading: a save in between shows
        try:
            loaded = labels.load_label(path, shape, labels_dir)
        except DermviewError as exc:  # a damaged or foreign label must not block the image
            loaded = None
            self.label_error = str(exc)
        self.path = path
        self.image = image
        self.info = info
        self._sha256 = sha256
        self.labels_dir = labels_dir
        self._label_seen = seen
        self.preview = None
        self.preview_params = None
        self.prob = None
        self.model = ModelInfo()
        self.label_meta = None
        self.label_loaded = loaded is not None
        if loaded is not None:
            self.mask, self.label_meta = loaded[0], loaded[1]
            meta = self.label_meta or {}
            if isinstance(meta.get("threshold"), (int, float)):
                self.threshold = float(meta["threshold"])
            self.model = ModelInfo(name=str(meta.get("model_name", "")),
                                   sha256=str(meta.get("model_sha256", "")),
                                   engine=str(meta.get("engine", "")),
                                   params=meta.get("preprocess_params"),
                                   confidence=float(c) if isinstance(
                                       c := meta.get("confidence"), (int, float)) else None)
        else:
            self.mask = np.zeros(shape, bool)
        meta = self.label_meta or {}
        self._opened_from_model = meta.get("source", "model" if meta.get("model_name")
                                           else "manual") == "model"
        # a mask from another tool (no sidecar, or `dermview import`'s) stays "imported" when
        # saved here (accepted or corrected), as its origin: it became "manual"
        self._opened_imported = (loaded is not None
                                 and label_source(self.label_meta) == "imported")
        self._silent_prediction = False
        # Hand edits recorded by earlier sessions; this session's edits are added on save.
        self._base_edits = (int(meta.get("edit_operations", 0) or 0),
                            int(meta.get("edited_pixels", 0) or 0),
                            meta.get("edited") is True)
        state = meta.get("review_state")
        self.review_state = state if state in labels.REVIEW_STATES else None
        self.review_comment = str(meta.get("review_comment") or "")
        self._verdict_seen = (self.review_state, str(meta.get("reviewed_by")
                                                     or (meta.get("user") if self.review_state else "") or ""),
                              provenance.mask_digest(self.mask))
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.image_changed.emit()
        self.prob_changed.emit()
        self._emit_full()
        self.set_reference_dir(reference_dir)
        self.dirty_changed.emit(False)

    def set_labels_dir(self, folder: Path | None) -> None:
        """Save this image's label in ``folder`` from now on (None = ``labels/`` beside it).
        With unsaved edits, a label of this image already there was never read here: saving
        asks before replacing it (a colleague's label in a shared folder was overwritten)."""
        self.labels_dir = Path(folder) if folder is not None else None
        if self.path is not None:
            self._label_seen = None if self.dirty else label_watch.label_fingerprint(
                self.path, self.labels_dir)

    def label_saved_meanwhile(self) -> dict[str, Any] | None:
        """The sidecar (``{}`` without one) of a label that someone else (another window, a
        colleague, ``dermview segment``) saved at this image's label path since this document
        last read or wrote it; None when nobody did."""
        if self.path is None:
            return None
        now = label_watch.label_fingerprint(self.path, self.labels_dir)
        if now == self._label_seen or now is None:  # None: none on disk to write over
            return None
        return labels.read_label_meta(self.path, self.labels_dir) or {}

    def label_deleted_meanwhile(self) -> bool:
        """The label this document read or wrote is no longer on disk (deleted or moved by
        another program): the mask shown is the only copy left."""
        return (self.path is not None and self._label_seen is not None
                and not self.label_paths[0].exists())

    def set_reference_dir(self, folder: Path | None) -> None:
        """Take the reference mask of the image from ``folder`` (:func:`label_policy.find_reference`).

        A reference that cannot be read or has another size is ignored (``reference_error``).
        """
        self.reference, self.reference_path, self.reference_error = (
            label_policy.load_reference(self.path, folder, self.shape) if self.path is not None
            else (None, None, ""))
        self.reference_changed.emit()

    # -- results ------------------------------------------------------------------------------
    def set_threshold_value(self, threshold: float) -> None:
        """Record the probability threshold the working mask corresponds to (undo/redo)."""
        self.threshold = float(threshold)
        self.threshold_changed.emit(self.threshold)

    def set_preview(self, result: Any, params: PreprocessParams) -> None:
        self.preview = result
        self.preview_params = params

    def adopt_prob(self, prob: np.ndarray) -> None:
        """Take ``prob`` (float32 ``(H, W)``, 0-1) as the map behind the mask as it is, e.g.
        the one saved beside a batch label (the mask and the undo history are unchanged)."""
        self.prob = prob
        self.prob_changed.emit()

    def set_prediction(self, prob: np.ndarray, mask: np.ndarray, threshold: float,
                       model: ModelInfo, patch: MaskPatch | None = None,
                       base_version: int | None = None) -> None:
        """Take a new model result; replacing the working mask is one undo step.

        ``patch`` (from the mask at :attr:`mask_version` ``base_version`` to ``mask``, made off
        the GUI thread) is used when the mask has not changed since; otherwise it is recomputed.
        """
        self.threshold = float(threshold)
        self.model = model
        self.adopt_prob(prob)
        unchanged = base_version == self.mask_version
        if patch is not None and unchanged:
            self.undo_stack.push(MaskCommand(self, patch, PREDICTION_TEXT, EditKind.PREDICTION))
        elif patch is None and unchanged:
            self._silent_prediction = True  # the model's, though no undo step says so
            return  # the prediction equals the working mask
        else:
            push_mask(self, mask, PREDICTION_TEXT, EditKind.PREDICTION)

    # -- mask notifications -----------------------------------------------------------------
    def notify_mask(self, rect: Rect) -> None:
        """Tell the views that ``mask[rect]`` changed (called by tools and undo commands)."""
        self.mask_version += 1
        if not rect.empty:
            self.mask_changed.emit(rect.r0, rect.r1, rect.c0, rect.c1)

    def _emit_full(self) -> None:
        self.mask_version += 1
        h, w = self.mask.shape
        self.mask_changed.emit(0, h, 0, w)

    # -- provenance ---------------------------------------------------------------------------
    def applied_commands(self) -> list[MaskCommand]:
        """The mask commands up to the current undo index (undone ones excluded)."""
        cmds = (self.undo_stack.command(i) for i in range(self.undo_stack.index()))
        return [c for c in cmds if isinstance(c, MaskCommand)]

    def hand_edits(self) -> tuple[int, int, bool]:
        """:func:`provenance.hand_edits` of the applied history."""
        return provenance.hand_edits(self.applied_commands())

    def mask_from_model(self) -> bool:
        """Whether the working mask comes from a model: False without a model, and once every
        prediction of this session was undone (no threshold change applied since) on an image
        whose opened label, if any, was not a model's: what is left was drawn by hand."""
        if not (self.model.name or self.prob is not None):
            return False
        if self._opened_from_model or self._silent_prediction:
            return True
        return any(c.kind in (EditKind.PREDICTION, EditKind.THRESHOLD, EditKind.RECOVERED)
                   for c in self.applied_commands())

    def hand_edited_map(self, kinds: tuple[EditKind, ...] = HAND_KINDS) -> np.ndarray:
        """:func:`provenance.hand_edited_map` of the applied history."""
        return provenance.hand_edited_map(self.applied_commands(), self.shape, kinds)

    def set_review(self, state: str | None, comment: str) -> None:
        """Record the reviewer's verdict (called by :class:`~dermview.gui.commands.
        ReviewCommand`, so it is undoable and counts as an unsaved change)."""
        self.review_state, self.review_comment = state, comment
        self.review_changed.emit()

    def hand_changed(self) -> bool:
        """:func:`provenance.hand_changed` of the applied history and the working mask."""
        return provenance.hand_changed(self.applied_commands(), self.mask)

    def effective_review(self) -> str | None:
        """The review state a save records: ``"corrected"`` once hand edits in this session
        changed the mask (an accepted mask would no longer be the model's), else the state
        the reviewer chose (None = not reviewed)."""
        return "corrected" if self.hand_changed() else self.review_state

    def corrected_before(self) -> bool:
        """Whether the label as opened was edited by hand (its sidecar says so) and no model
        prediction has replaced that mask since: accepting it keeps it corrected."""
        return self._base_edits[2] and not self.hand_edits()[2]

    def verdict_by(self, state: str | None = None) -> str:
        """Who gave the verdict a save records ("" when not reviewed): the label's reviewer
        while the verdict and the mask are the ones it was opened (or last saved) with; else
        whoever saves now. A colleague re-saving a label someone else accepted (to record a
        comment or a classification) does not become its reviewer. ``state``: the
        :meth:`effective_review` when the caller has it already."""
        state = state or self.effective_review()
        if state is None:
            return ""
        seen_state, seen_by, seen_mask = self._verdict_seen
        if state == seen_state and seen_by and provenance.mask_digest(self.mask) == seen_mask:
            return seen_by
        return self.saver()

    def saver(self) -> str:
        """Who saves now: the Review panel's name, else the login name."""
        return self.reviewer or labels.login_name()

    def set_reviewer(self, name: str) -> None:
        """Record ``name`` as the person saving from now on ("" = the login name)."""
        self.reviewer = name.strip()

    def add_sidecar_field(self, key: str, provider: Callable[[], Any]) -> None:
        """Write ``provider()`` (JSON-serialisable; None = leave out) under ``key`` in every
        saved sidecar (e.g. a panel's measurements of the mask being saved)."""
        self._sidecar_fields[key] = provider

    def sidecar_field(self, key: str) -> Any:
        """What :meth:`add_sidecar_field`'s provider of ``key`` gives now (None without one)."""
        fn = self._sidecar_fields.get(key)
        return None if fn is None else fn()

    def label_meta_for_save(self, params: PreprocessParams | None) -> labels.LabelMeta:
        """Sidecar for the current state (model, settings, hand edits)."""
        assert self.image is not None
        h, w = self.shape
        ops, pixels, reset = self.hand_edits()
        prev_ops, prev_px, prev_edited = (0, 0, False) if reset else self._base_edits
        from_model = self.mask_from_model()
        changed = self.hand_changed()  # once: the review state and "edited" both follow it
        state = "corrected" if changed else self.review_state  # = effective_review()
        # every prediction undone: the mask drawn by hand is no model's (it was saved as the
        # model's, with the model's confidence)
        model = self.model if from_model else ModelInfo()
        login = labels.login_name()
        used_params = model.params if model.params is not None else (
            params.to_dict() if params is not None else None)
        return labels.LabelMeta(
            image_sha256=self.image_sha256(),
            image_size=(w, h),
            model_name=model.name,
            model_sha256=model.sha256, engine=model.engine,
            preprocess_params=used_params,
            threshold=self.threshold if from_model else None,
            edited=changed or prev_edited,
            edited_pixels=pixels + prev_px,
            edit_operations=ops + prev_ops,
            source="model" if from_model else "imported" if self._opened_imported else "manual",
            review_state=state,
            review_comment=self.review_comment,
            user=self.saver(),
            extras={**({"login": login} if self.reviewer and self.reviewer != login else {}),
                    **({"reviewed_by": by} if (by := self.verdict_by(state)) else {}),
                    **({"imported_from": imported} if self._opened_imported and not from_model
                       and (imported := (self.label_meta or {}).get("imported_from")) else {}),
                    **{k: v for k, fn in self._sidecar_fields.items() if (v := fn()) is not None}},
        )

    def save(self, params: PreprocessParams | None) -> tuple[Path, Path]:
        """Save the working mask and its sidecar (atomic; the previous label is backed up).

        Raises:
            WriteError, MaskError: nothing was saved; the working mask is kept.
        """
        assert self.path is not None
        meta = self.label_meta_for_save(params)
        png, js = labels.save_label(self.path, self.mask, meta, self.labels_dir)
        self._verdict_seen = (meta.review_state, str(meta.extras.get("reviewed_by", "")),
                              provenance.mask_digest(self.mask))
        self._label_seen = label_watch.label_fingerprint(self.path, self.labels_dir)
        self.label_meta = meta.to_dict()
        self.label_loaded = True
        self.undo_stack.setClean()
        return png, js

    # -- crash journal ------------------------------------------------------------------------
    def journal_meta(self) -> dict[str, Any]:
        """What the crash journal keeps besides the mask, so a recovered label is recorded
        exactly as it would have been (model, threshold, hand edits, labels folder)."""
        return {"model": asdict(self.model), "threshold": self.threshold,
                "hand_edits": list(self.hand_edits()),
                "review": [self.review_state, self.review_comment],
                "labels_dir": str(self.labels_dir) if self.labels_dir is not None else "",
                # the label the edits were made on: one saved elsewhere before they are
                # recovered is not written over without asking (label_saved_meanwhile)
                "label_seen": self._label_seen,
                # whose work it is: a colleague restoring it after a crash is not its author
                "worked_by": self.saver(), "verdict_by": self.verdict_by()}

    def restore(self, mask: np.ndarray, meta: dict[str, Any], edited: np.ndarray | None,
                prob: np.ndarray | None) -> None:
        """Take back journaled work (one undo step "Recovered autosave")."""
        model = meta.get("model")
        if isinstance(model, dict):
            self.model = ModelInfo(**{k: v for k, v in model.items()
                                      if k in ModelInfo.__dataclass_fields__})
        if prob is not None and prob.shape == self.shape:
            self.adopt_prob(prob)
        if isinstance(meta.get("threshold"), (int, float)):
            self.set_threshold_value(meta["threshold"])
        if meta.get("labels_dir"):
            self.set_labels_dir(Path(meta["labels_dir"]))
        seen = meta.get("label_seen", self._label_seen)  # an older journal: as opened now
        self._label_seen = seen if isinstance(seen, str) else None
        review = meta.get("review")
        if isinstance(review, list) and len(review) == 2 and review[0] in labels.REVIEW_STATES:
            self.set_review(review[0], str(review[1] or ""))
        hand = meta.get("hand_edits")
        if not (isinstance(hand, list) and len(hand) == 3):  # an older journal: count the change
            hand = [1, int(np.count_nonzero(mask != self.mask)), False]
        if edited is None or edited.shape != self.shape:
            edited = mask != self.mask
        patch = editing.diff_patch(self.mask, mask)
        self.undo_stack.push(RecoveredCommand(
            self, patch, (int(hand[0]), int(hand[1]), bool(hand[2])), edited))
        if isinstance(by := meta.get("verdict_by"), str) and by:  # saved unchanged: still theirs
            self._verdict_seen = (self.effective_review(), by, provenance.mask_digest(self.mask))
