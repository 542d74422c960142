"""The reviewer's verdict: accepted / corrected / rejected, a comment, both undoable and in
the sidecar."""

from __future__ import annotations

from PySide6 import QtCore

from dermview.gui import provenance
from dermview.gui.commands import ReviewCommand
from dermview.gui.comment_author import comment_by
from dermview.gui.controllers.saving import SaveController
from dermview.gui.document import Document
from dermview.gui.review_panel import ReviewPanel


class ReviewController(QtCore.QObject):
    """Connects the Review panel to the document; "Accept" / "Reject" record the verdict and
    save.

    Signals:
        message(str, int): a status-bar message and its duration in ms.
    """

    message = QtCore.Signal(str, int)

    def __init__(self, doc: Document, panel: ReviewPanel, saving: SaveController,
                 parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.panel, self.saving = doc, panel, saving
        # Redrawn from the event loop, never inside a signal: the undo stack also reports
        # changes while it is being destroyed with the window.
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._show)
        for sig in (doc.image_changed, doc.review_changed, doc.undo_stack.indexChanged):
            sig.connect(self._timer.start)
        doc.add_sidecar_field("comment_by", lambda: comment_by(doc))
        panel.state_chosen.connect(self.set_state)
        panel.comment_edited.connect(self.set_comment)
        panel.accept_clicked.connect(self.accept)
        panel.reject_clicked.connect(self.reject)
        panel.reviewer_changed.connect(doc.set_reviewer)
        doc.set_reviewer(panel.reviewer_edit.text().strip())
        # the tools of the label's earlier sessions, as opened (a save replaces label_meta)
        self._earlier_tools: dict[str, int] = {}
        doc.image_changed.connect(self._remember_tools)
        doc.add_sidecar_field("edit_tools", self.edit_tools)

    def _remember_tools(self) -> None:
        tools = (self.doc.label_meta or {}).get("edit_tools")
        self._earlier_tools = dict(tools) if isinstance(tools, dict) else {}

    def edit_tools(self) -> dict[str, int] | None:
        """The sidecar's ``edit_tools``: how many steps of each tool corrected the mask, the
        label's earlier sessions included (None: no hand edit)."""
        tools, reset = provenance.edit_tools(self.doc.applied_commands())
        for name, n in ({} if reset else self._earlier_tools).items():
            tools[name] = tools.get(name, 0) + int(n)
        return dict(sorted(tools.items())) or None

    def _show(self) -> None:
        doc = self.doc
        self.panel.set_image_open(doc.has_image)
        self.panel.show_review(doc.review_state, doc.review_comment, doc.effective_review(),
                               doc.has_image and doc.hand_changed())
        if not doc.has_image:
            self.panel.set_image_open(False)

    def set_state(self, state: str | None) -> None:
        """Record a verdict (one undo step)."""
        doc = self.doc
        if doc.has_image and state != doc.review_state:
            doc.undo_stack.push(ReviewCommand(doc, (doc.review_state, doc.review_comment),
                                              (state, doc.review_comment)))

    def set_comment(self, text: str) -> None:
        """Record the comment (consecutive edits are one undo step)."""
        doc = self.doc
        if doc.has_image and text != doc.review_comment:
            doc.undo_stack.push(ReviewCommand(doc, (doc.review_state, doc.review_comment),
                                              (doc.review_state, text)))

    def accept(self) -> bool:
        """The mask is right as it is: mark it accepted and save (False: nothing saved)."""
        if not self.doc.has_image:
            return False
        if not self.doc.mask.any():
            # A on an image never segmented saved an empty label as "accepted ✓" (the
            # reviewer "accepted" an outline that is not there)
            self.message.emit("Nothing to accept: the mask is empty. Segment (Ctrl+R) or draw "
                              "the lesion first; Reject (X) marks the image to be redone",
                              8000)
            return False
        before = self.doc.corrected_before()
        if before or self.doc.hand_changed():
            # "accepted" is the model's mask as it is: a mask corrected by hand, earlier (a
            # second reader agreeing with it) or in this session, is saved as corrected, as its
            # sidecar's "edited" says (the history and the panel said "accepted")
            self.set_state("corrected")
            saved = self.saving.save()
            if saved:
                self.message.emit("Saved as corrected: " + (
                    "this mask was edited by hand before" if before else
                    "the mask was edited by hand") + " (accepted is for the model's mask as it is)",
                    8000)
            return saved
        self.set_state("accepted")
        return self.saving.save()

    def reject(self) -> bool:
        """The mask is wrong and is not fixed now: mark it rejected (to be redone) and save.
        Not for a mask edited by hand (that is saved as corrected): False, and why."""
        doc = self.doc
        if not doc.has_image:
            return False
        # hand edits of this session, also on a label opened as corrected (its X saved the new
        # strokes as corrected, the history saying "rejected")
        if doc.hand_changed():
            # (undoing gives back the mask as it was opened: a corrected label's, not the model's)
            self.message.emit("The mask was edited by hand: save it as corrected, or undo the "
                              "edits (Ctrl+Z) to reject the mask as it was opened", 8000)
            return False
        self.set_state("rejected")
        return self.saving.save()
