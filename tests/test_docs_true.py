"""Docs trial: what docs/ and the README say about docs/ is true now. The bad-input matrix of
docs/reliability.md is what its generator prints (``.venv/bin/python tests/test_bad_inputs.py``;
it had gone stale: the truncated-file messages had changed and the "weights: image" case was
missing), and the README's Layout names what docs/ holds."""

from __future__ import annotations

import re
from pathlib import Path

from test_bad_inputs import _markdown_matrix

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"


def test_reliability_matrix_is_the_generators_output():
    """docs/reliability.md's matrix, row for row, is what its generator prints now."""
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines()
            if line.startswith("| input | behaviour |") or line.startswith("| image:")
            or line.startswith("| mask:") or line.startswith("| weights:")
            or line.startswith("| save label:")]
    made = [line for line in _markdown_matrix().splitlines() if line.startswith("| ")
            and not line.startswith("|---")]
    assert rows == made


def test_readme_layout_names_what_docs_holds():
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


def test_gui_readme_names_every_gui_module_and_where_the_fixtures_are():
    """dermview/gui/README.md (the README's "how to add panels" link) listed 19 of the GUI's
    modules (not worklist.py, docks.py, refine.py, the lesion / diagnosis / exchange /
    finetune controllers, ...) and sent test writers to tests/test_gui_app.py for the
    fixtures, which live in tests/_gui.py."""
    gui = DOC.parent.parent / "dermview" / "gui"
    text = (gui / "README.md").read_text(encoding="utf-8")
    layout = text[text.index("```"):text.index("```", text.index("```") + 3)]
    missing = [str(p.relative_to(gui)) for p in sorted(gui.rglob("*.py"))
               if p.name != "__init__.py" and p.name not in layout]
    assert missing == []
    named = re.search(r"`(tests/[\w/]+\.py)` has the fixtures ((?:`\w+`[, ]*(?:and )?)+)", text)
    assert named, "the README names no fixtures file"
    source = (DOC.parent.parent / named.group(1)).read_text(encoding="utf-8")
    for fixture in re.findall(r"`(\w+)`", named.group(2)):
        assert f"def {fixture}(" in source, fixture


def test_every_file_the_docs_name_exists():
    """docs/reliability.md's heading named `dermview/io.py`, a package (`dermview/io/`) since;
    a path in a `git show REV:path` command is that revision's and is not checked."""
    root = DOC.parent.parent
    pattern = re.compile(r"(?<![\w:/.])((?:dermview|tests|benchmarks|training|scripts|packaging"
                         r"|docs)/[\w/.-]*\w)")
    missing = []
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md")),
                root / "dermview" / "gui" / "README.md"]:
        for path in pattern.findall(doc.read_text(encoding="utf-8")):
            # `bench_preprocess.*`, `bench_analysis.{json,md}`: some file of that stem
            if not (root / path).exists() and not list(root.glob(path + ".*")):
                missing.append(f"{doc.relative_to(root)}: {path}")
    assert missing == []
