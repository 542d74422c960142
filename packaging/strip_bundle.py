"""Slim the PyInstaller bundle after the build (``packaging/build.sh`` runs it on Linux).

    python packaging/strip_bundle.py dist/dermview-<version>-linux-x86_64/_internal

In order, each step printing what it saved:

1. :func:`minify_json`: rewrites the JSON files named by ``bundle_config.MINIFY_JSON_GLOBS``
   without indentation (same data for ``json.loads``).
2. :func:`prune_unreachable`: removes the shared libraries that no extension module, Qt
   plugin or other root of the bundle needs (``DT_NEEDED``, followed transitively). They are
   what PyInstaller collected for the files ``bundle_config`` excluded afterwards (the GTK 3
   platform theme's cairo, pango, gio...).
3. :func:`dedupe_libraries`: replaces a library that is byte-identical to one already kept
   (numpy's and scipy's copies of the same ``libgfortran``) by a relative symbolic link.
4. :func:`strip_bundle`: ``strip --strip-unneeded`` (binutils) on each file matching
   ``bundle_config.STRIP_DEST_GLOBS`` that has no RPATH/RUNPATH starting with ``$ORIGIN`` (the
   mark of a library relinked by auditwheel's patchelf, which ``strip`` can break).

Steps 2-4 need ``readelf``/``strip`` and Linux; without them they do nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bundle_config  # noqa: E402

#: A shared library file name: ``libfoo.so``, ``libfoo.so.6``, ``libfoo-1a2b.so.1.2.3``.
_SHARED = re.compile(r"\.so(\.\d+)*$")
_NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[(.+?)\]")


def _elf_tools() -> bool:
    return sys.platform.startswith("linux") and bool(shutil.which("readelf"))


def _relinked(path: Path) -> bool:
    """Whether the ELF file's RPATH/RUNPATH points at ``$ORIGIN`` (patchelf'd)."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return any(("RPATH" in ln or "RUNPATH" in ln) and "$ORIGIN" in ln for ln in out.splitlines())


def needed(path: Path) -> list[str]:
    """``DT_NEEDED`` names of an ELF file (``[]`` for anything else)."""
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return _NEEDED.findall(out)


def is_library(rel: str) -> bool:
    """Whether a bundle path (``/`` separated, relative to ``_internal``) is a shared library
    that is only there because something links to it: a ``lib*.so*`` at the top level, in an
    auditwheel ``<dist>.libs/`` folder or in Qt's ``lib/``. Extension modules, Qt plugins,
    ``libpython`` (which the bootloader opens) and files in package folders (ONNX Runtime
    opens its provider library by name) are roots instead."""
    parts = rel.split("/")
    name = parts[-1]
    if not _SHARED.search(name) or ".cpython-" in name or ".abi3." in name \
            or name.startswith("libpython"):
        return False
    return len(parts) == 1 or parts[0].endswith(".libs") or rel.startswith("PySide6/Qt/lib/")


def unreachable(files: dict[str, list[str]], links: dict[str, str]) -> set[str]:
    """Libraries that no root needs. ``files``: bundle path → its ``DT_NEEDED`` names, for
    every ELF file; ``links``: symbolic link path → the path it points to. A needed name is
    found as any library (file or link) with that file name."""
    by_name: dict[str, list[str]] = {}
    for rel in [*files, *links]:
        if is_library(rel):
            by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    keep: set[str] = set()
    stack = [rel for rel in files if not is_library(rel)]
    while stack:
        rel = links.get(stack.pop())
        for name in files.get(rel, []) if rel is not None else []:
            for dep in by_name.get(name, []):
                if dep not in keep:
                    keep.update({dep, links.get(dep, dep)})  # a link and the file it names
                    stack.append(dep)
    libraries = {rel for names in by_name.values() for rel in names}
    return libraries - keep


def _scan(internal: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    files: dict[str, list[str]] = {}
    links: dict[str, str] = {}
    for path in sorted(internal.rglob("*")):
        rel = path.relative_to(internal).as_posix()
        if path.is_symlink():
            target = path.resolve()
            if target.is_file() and target.is_relative_to(internal.resolve()):
                links[rel] = target.relative_to(internal.resolve()).as_posix()
        elif path.is_file() and _SHARED.search(path.name):
            files[rel] = needed(path)
            links[rel] = rel  # a file "points" at itself
    return files, links


def prune_unreachable(internal: Path) -> tuple[int, int]:
    """Remove the libraries :func:`unreachable` finds; ``(files removed, bytes saved)``."""
    if not _elf_tools():
        print("prune_unreachable: readelf not available, nothing removed")
        return 0, 0
    files, links = _scan(internal)
    drop = unreachable(files, links)
    saved = 0
    for rel in sorted(drop):
        path = internal / rel
        saved += 0 if path.is_symlink() else path.stat().st_size
        path.unlink()
    for path in sorted(internal.rglob("*")):  # links whose target went
        if path.is_symlink() and not path.exists():
            path.unlink()
    print(f"prune_unreachable: {len(drop)} unneeded libraries removed, {saved / 1e6:.1f} MB "
          f"saved ({', '.join(sorted(r.rsplit('/', 1)[-1] for r in drop)[:12])}...)")
    return len(drop), saved


def dedupe_libraries(internal: Path) -> tuple[int, int]:
    """Replace byte-identical copies of a library by relative links to the first (in path
    order); ``(files replaced, bytes saved)``."""
    first: dict[tuple[int, str], Path] = {}
    count = saved = 0
    for path in sorted(internal.rglob("*")):
        rel = path.relative_to(internal).as_posix()
        if path.is_symlink() or not path.is_file() or not is_library(rel):
            continue
        size = path.stat().st_size
        key = (size, hashlib.sha256(path.read_bytes()).hexdigest())
        if key not in first:
            first[key] = path
            continue
        path.unlink()
        path.symlink_to(os.path.relpath(first[key], path.parent))
        count += 1
        saved += size
    print(f"dedupe_libraries: {count} identical copies linked, {saved / 1e6:.1f} MB saved")
    return count, saved


def minify_json(internal: Path) -> tuple[int, int]:
    """Rewrite the matching JSON files compactly; ``(files, bytes saved)``."""
    count = saved = 0
    for path in sorted(internal.rglob("*.json")):
        rel = path.relative_to(internal).as_posix()
        if path.is_symlink() or not bundle_config.minified_dest(rel):
            continue
        raw = path.read_bytes()
        compact = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False)
        path.write_bytes(compact.encode("utf-8"))
        saved += len(raw) - path.stat().st_size
        count += 1
    print(f"minify_json: {count} files rewritten, {saved / 1e6:.1f} MB saved")
    return count, saved


def strip_bundle(internal: Path) -> tuple[int, int]:
    """Strip the matching files under ``internal``; ``(files stripped, bytes saved)``."""
    if not _elf_tools() or not shutil.which("strip"):
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


def slim(internal: Path) -> None:
    """All the steps, in order."""
    minify_json(internal)
    prune_unreachable(internal)
    dedupe_libraries(internal)
    strip_bundle(internal)


if __name__ == "__main__":
    slim(Path(sys.argv[1]))
