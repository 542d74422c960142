"""Who wrote the review comment (the sidecar's ``comment_by``): a colleague's comment added
to a label someone else had reviewed was printed in the case report beside that reviewer's
name, as if it were the reviewer's own words. Qt-free: reads the document's state."""

from __future__ import annotations

from typing import Any


def comment_by(doc: Any) -> str | None:
    """Who wrote the comment a save records: whoever saves now when it is new or changed
    since the label was opened (or last saved), else the author the label names (None for
    no comment, or a label saved before authors were recorded)."""
    comment = str(doc.review_comment or "").strip()
    if not comment:
        return None
    meta = doc.label_meta or {}
    if doc.label_loaded and comment == str(meta.get("review_comment") or "").strip():
        return str(meta.get("comment_by") or "") or None
    return doc.saver()


def comment_text(doc: Any, reviewer: str) -> str:
    """The comment for the report, with its author when not the ``reviewer`` named there."""
    by = comment_by(doc)
    return doc.review_comment if not by or by == reviewer else f"{doc.review_comment} ({by})"
