"""What the unpacked bundle is made of, for ``docs/results/package_size.json``.

    python packaging/bundle_composition.py APP_DIR PACKAGE_TEST_JSON OUT_JSON

APP_DIR: the unpacked ``dermview-<version>-linux-<arch>`` folder; PACKAGE_TEST_JSON: the
``dist/package-test.json`` that ``packaging/package_test.sh`` wrote (archive size, self-test
time...). Writes OUT_JSON: those numbers, the reproducing command, and the bytes on disk of
each top-level part of ``_internal`` (largest first; the rest summed) and of the
executable (which holds the compressed pure-Python modules).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def tree_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (links not followed)."""
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def composition(app: Path, top: int = 30) -> dict:
    """``{"executable_bytes", "parts": [{"name", "bytes"}...], "other_bytes"}``."""
    internal = app / "_internal"
    parts = sorted(((p.name, tree_bytes(p)) for p in internal.iterdir()),
                   key=lambda t: -t[1])
    return {
        "executable_bytes": tree_bytes(app / "dermview"),
        "parts": [{"name": n, "bytes": b} for n, b in parts[:top]],
        "other_bytes": sum(b for _, b in parts[top:]),
    }


def main(argv: list[str]) -> int:
    app, test_json, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    result = {
        "command": "make package-test",
        "targets": {"archive_mb": 150, "bundle_mb": 450, "self_test_s": 5},
        **json.loads(test_json.read_text(encoding="utf-8")),
        "composition": composition(app),
    }
    result.pop("archive", None)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
