"""Docs trial: the bad-input matrix of docs/reliability.md is what its generator prints now
(``.venv/bin/python tests/test_bad_inputs.py``); it had gone stale: the truncated-file
messages had changed and the "weights: image" case was missing."""

from __future__ import annotations

from pathlib import Path

from test_bad_inputs import _markdown_matrix

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"


def test_finding_reliability_matrix_is_the_generators_output():
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines()
            if line.startswith("| input | behaviour |") or line.startswith("| image:")
            or line.startswith("| mask:") or line.startswith("| weights:")
            or line.startswith("| save label:")]
    made = [line for line in _markdown_matrix().splitlines() if line.startswith("| ")
            and not line.startswith("|---")]
    assert rows == made
