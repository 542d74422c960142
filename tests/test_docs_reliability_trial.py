"""Docs trial: what docs/ and the README say about docs/ is true now. The bad-input matrix of
docs/reliability.md is what its generator prints (``.venv/bin/python tests/test_bad_inputs.py``;
it had gone stale: the truncated-file messages had changed and the "weights: image" case was
missing), and the README's Layout names what docs/ holds."""

from __future__ import annotations

from pathlib import Path

from test_bad_inputs import _markdown_matrix

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"


def test_finding_reliability_matrix_is_the_generators_output():
    """docs/reliability.md's matrix, row for row, is what its generator prints now."""
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines()
            if line.startswith("| input | behaviour |") or line.startswith("| image:")
            or line.startswith("| mask:") or line.startswith("| weights:")
            or line.startswith("| save label:")]
    made = [line for line in _markdown_matrix().splitlines() if line.startswith("| ")
            and not line.startswith("|---")]
    assert rows == made


def test_finding_readme_layout_names_what_docs_holds():
    """The README's Layout said docs/ holds "screenshots, preprocessing contact sheet,
    reliability matrix": not hair_detection_notes.md (where the README sends a reader for
    why the hair targets are missed) nor results/, which every benchmark command writes."""
    readme = (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):readme.index("## Data and licences")]
    docs_line = layout[layout.index("docs/ "):layout.index("tests/ ")]
    for entry in sorted(DOC.parent.iterdir()):
        name = entry.name + ("/" if entry.is_dir() else "")
        stem = name.split("_candidates")[0].removesuffix(".png")
        assert name in docs_line or stem in docs_line, name
