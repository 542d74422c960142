"""Strip the symbol tables of the bundle's libraries named by ``bundle_config.STRIP_DEST_GLOBS``.

    python packaging/strip_bundle.py dist/dermview-<version>-linux-x86_64/_internal

Runs ``strip --strip-unneeded`` (binutils) on each matching file that has no RPATH/RUNPATH
starting with ``$ORIGIN`` (the mark of a library relinked by auditwheel's patchelf, which
``strip`` can break); prints the bytes saved. Without ``strip`` (or off Linux) it does nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bundle_config  # noqa: E402


def _relinked(path: Path) -> bool:
    """Whether the ELF file's RPATH/RUNPATH points at ``$ORIGIN`` (patchelf'd)."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return any(("RPATH" in ln or "RUNPATH" in ln) and "$ORIGIN" in ln for ln in out.splitlines())


def strip_bundle(internal: Path) -> tuple[int, int]:
    """Strip the matching files under ``internal``; ``(files stripped, bytes saved)``."""
    if not sys.platform.startswith("linux") or not shutil.which("strip") \
            or not shutil.which("readelf"):
        print("strip_bundle: strip/readelf not available, nothing stripped")
        return 0, 0
    count = saved = 0
    for path in sorted(internal.rglob("*")):
        dest = path.relative_to(internal).as_posix()
        if path.is_symlink() or not path.is_file() or not bundle_config.stripped_dest(dest):
            continue
        if _relinked(path):
            continue
        before = path.stat().st_size
        subprocess.run(["strip", "--strip-unneeded", str(path)], check=True)
        saved += before - path.stat().st_size
        count += 1
    print(f"strip_bundle: {count} files stripped, {saved / 1e6:.1f} MB saved")
    return count, saved


if __name__ == "__main__":
    strip_bundle(Path(sys.argv[1]))
