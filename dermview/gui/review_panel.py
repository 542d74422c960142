"""Review panel: the reviewer's verdict on the mask (accepted / corrected / rejected) and a
comment."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from dermview.gui.style import tab_enters_at_checked

#: (text, state) of the verdicts; state None = not reviewed.
STATES = (("Not reviewed", None), ("Accepted", "accepted"), ("Corrected", "corrected"),
          ("Rejected", "rejected"))
#: What each verdict means (the radio buttons' tooltips).
STATE_TIPS = {
    None: "Nobody has checked this mask yet",
    "accepted": "The model's mask is right as it is (A accepts and saves)",
    "corrected": "The mask was corrected by hand",
    "rejected": "The mask is wrong and was not fixed here: saved as rejected, listed under the "
                "worklist's 'Rejected (to redo)', never used for fine-tuning nor exported "
                "(X rejects and saves)",
}
#: Tooltip of the verdicts a hand-edited mask cannot have.
EDITED_TIP = "The mask was edited by hand, so it is saved as corrected; undo the edits to choose"


class ReviewPanel(QtWidgets.QWidget):
    """Verdict buttons, comment box, "Accept" button and what a save will record.

    Signals:
        state_chosen(object): ``"accepted"``, ``"corrected"``, ``"rejected"`` or None (not
            reviewed).
        comment_edited(str): the comment text changed.
        accept_clicked(): "Accept mask" (accept the mask as it is and save).
        reject_clicked(): "Reject" (the mask is wrong: save it as rejected).
        reviewer_changed(str): the reviewer's name was edited ("" = the login name).
    """

    state_chosen = QtCore.Signal(object)
    comment_edited = QtCore.Signal(str)
    accept_clicked = QtCore.Signal()
    reject_clicked = QtCore.Signal()
    reviewer_changed = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None, reviewer: str = "",
                 login: str = "") -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        who = QtWidgets.QHBoxLayout()
        who.addWidget(QtWidgets.QLabel("Reviewer"))
        self.reviewer_edit = QtWidgets.QLineEdit(reviewer)
        self.reviewer_edit.setPlaceholderText(login or "your name")
        self.reviewer_edit.setToolTip(
            "Your name as saved with each label and shown in the case report (empty: the login "
            f"name{', ' + login if login else ''}); set it when several people share this "
            "computer account")
        # Every keystroke counts: Ctrl+S right after typing (no Enter, the focus still here)
        # saves under the name typed.
        self.reviewer_edit.textChanged.connect(lambda t: self.reviewer_changed.emit(t.strip()))
        who.addWidget(self.reviewer_edit, 1)
        layout.addLayout(who)
        self._verdict_widgets: list[QtWidgets.QWidget] = []
        row = QtWidgets.QGridLayout()  # two by two: four verdicts fit a narrow dock at 150 %
        self.group = QtWidgets.QButtonGroup(self)
        self.radios: dict[str | None, QtWidgets.QRadioButton] = {}
        for i, (text, state) in enumerate(STATES):
            b = QtWidgets.QRadioButton(text)
            self.group.addButton(b)
            row.addWidget(b, i // 2, i % 2)
            self.radios[state] = b
            b.clicked.connect(lambda _=False, s=state: self.state_chosen.emit(s))
        layout.addLayout(row)
        tab_enters_at_checked(list(self.radios.values()))
        self.comment = QtWidgets.QPlainTextEdit()
        self.comment.setPlaceholderText("Comment (saved in the sidecar; Esc: back to the image)")
        self.comment.setMaximumHeight(64)
        # Tab moves on to the buttons (it typed a tab character and never left the box)
        self.comment.setTabChangesFocus(True)
        self.comment.textChanged.connect(
            lambda: None if self._updating else self.comment_edited.emit(
                self.comment.toPlainText()))
        layout.addWidget(self.comment)
        self.accept_button = QtWidgets.QPushButton("Accept mask and save")
        self.accept_button.setToolTip("The model's mask is right as it is: save it as accepted (A)")
        self.accept_button.clicked.connect(self.accept_clicked)
        self.reject_button = QtWidgets.QPushButton("Reject and save")
        self.reject_button.setToolTip("The mask is wrong and is not fixed now: save it as "
                                      "rejected, to be redone (X)")
        self.reject_button.clicked.connect(self.reject_clicked)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.accept_button, 3)
        buttons.addWidget(self.reject_button, 2)
        layout.addLayout(buttons)
        self.outcome = QtWidgets.QLabel("")
        self.outcome.setWordWrap(True)
        layout.addWidget(self.outcome)
        self._verdict_widgets = [*self.radios.values(), self.comment, self.accept_button,
                                 self.reject_button, self.outcome]
        layout.addStretch(1)  # the rows stay together at the top of a tall dock
        self._updating = False

    def set_image_open(self, is_open: bool) -> None:
        """The verdict widgets work only with an image open (the reviewer's name always)."""
        for w in self._verdict_widgets:
            w.setEnabled(is_open)

    def show_review(self, state: str | None, comment: str, saved_as: str | None,
                    hand_edited: bool = False) -> None:
        """Show the document's verdict and comment (no signals) and what a save records;
        ``hand_edited``: hand edits of this session changed the mask."""
        # A mask edited by hand is saved as corrected whatever verdict was chosen: the panel
        # shows that verdict, and the others wait until the edits are undone (a label opened
        # as corrected and edited again too: it offered Reject, which saved it as corrected).
        edited = saved_as == "corrected" and (state != "corrected" or hand_edited)
        self._updating = True
        try:
            self.radios.get("corrected" if edited else state, self.radios[None]).setChecked(True)
            if self.comment.toPlainText() != comment:
                self.comment.setPlainText(comment)
        finally:
            self._updating = False
        for s, button in self.radios.items():
            button.setEnabled(not edited or s == "corrected")
            button.setToolTip(EDITED_TIP if edited and s != "corrected" else STATE_TIPS[s])
        self.accept_button.setText("Save as corrected" if edited else "Accept mask and save")
        self.reject_button.setEnabled(not edited)
        self.accept_button.setToolTip(
            "The mask was edited by hand: save it as corrected (A)" if edited else
            "The model's mask is right as it is: save it as accepted (A)")
        why = " (edited by hand)" if edited else ""
        self.outcome.setText(f"Saving records: <b>{saved_as or 'not reviewed'}</b>{why}")
