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


def _dynamic_symbols(path: Path, defined: bool) -> set[str]:
    """Names of the dynamic symbols an ELF file defines (or, ``defined=False``, imports)."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], capture_output=True,
                         text=True).stdout
    names = set()
    for ln in out.splitlines():
        f = ln.split()
        if len(f) >= 8 and f[0].endswith(":") and (f[6] != "UND") == defined \
                and (not defined or f[4] in ("GLOBAL", "WEAK")):
            names.add(f[7].split("@")[0])
    return names


def forwarding_assembly(symbols: list[str], prefix: str) -> str:
    """x86-64 assembly of a library whose every function ``S`` jumps to ``prefix + S``
    (a tail jump: arguments, stack and return value pass through untouched)."""
    lines = [".text"]
    for sym in symbols:
        lines += [f".globl {sym}", f".type {sym}, @function", f"{sym}:",
                  f"    jmp {prefix}{sym}@PLT", f".size {sym}, .-{sym}"]
    lines.append('.section .note.GNU-stack,"",@progbits')
    return "\n".join(lines) + "\n"


def forward_cv2_blas(internal: Path) -> tuple[int, int]:
    """OpenCV's wheel carries its own OpenBLAS (39 MB, with libgfortran and libquadmath) for
    the 19 BLAS/LAPACK functions ``cv2`` calls (``cblas_sgemm``, ``dgesdd_``...); scipy's
    OpenBLAS, in the bundle anyway, exports the same functions, same LP64 interface, as
    ``scipy_<name>``. Replace OpenCV's copy by a small library of that name whose functions
    jump to scipy's (assembled with the C compiler). Only on x86-64 Linux, with ``cc``, and
    when scipy's library has every function; otherwise nothing changes.
    ``(functions forwarded, bytes saved)``."""
    import platform
    import tempfile

    if not _elf_tools() or platform.machine() != "x86_64" or not shutil.which("cc"):
        print("forward_cv2_blas: needs x86-64 Linux, readelf and cc; OpenCV's OpenBLAS kept")
        return 0, 0
    cv2_so = next(iter(sorted((internal / "cv2").glob("cv2*.so"))), None)
    libs = internal / "opencv_python_headless.libs"
    scipy_blas = next(iter(sorted((internal / "scipy.libs").glob("libscipy_openblas-*.so"))),
                      None)
    if cv2_so is None or scipy_blas is None or not libs.is_dir():
        print("forward_cv2_blas: cv2 or scipy's OpenBLAS not in the bundle; nothing changed")
        return 0, 0
    blas = [libs / n for n in needed(cv2_so) if n.startswith("libopenblas")]
    if len(blas) != 1 or not blas[0].is_file() or blas[0].is_symlink():
        print("forward_cv2_blas: OpenCV's OpenBLAS not found; nothing changed")
        return 0, 0
    symbols = sorted(_dynamic_symbols(cv2_so, defined=False)
                     & _dynamic_symbols(blas[0], defined=True))
    missing = [s for s in symbols if f"scipy_{s}" not in _dynamic_symbols(scipy_blas, True)]
    if not symbols or missing:
        print(f"forward_cv2_blas: scipy's OpenBLAS lacks {missing[:5]}; nothing changed")
        return 0, 0
    before = blas[0].stat().st_size
    with tempfile.TemporaryDirectory() as tmp:
        asm, out = Path(tmp) / "forward.s", Path(tmp) / blas[0].name
        asm.write_text(forwarding_assembly(symbols, "scipy_"))
        rpath = os.path.relpath(scipy_blas.parent, libs)
        subprocess.run(["cc", "-shared", "-nostdlib", "-o", str(out), str(asm),
                        f"-Wl,-soname,{blas[0].name}", f"-L{scipy_blas.parent}",
                        f"-l:{scipy_blas.name}", f"-Wl,-rpath,$ORIGIN/{rpath}"], check=True)
        if set(symbols) - _dynamic_symbols(out, defined=True):
            print("forward_cv2_blas: the forwarding library is incomplete; nothing changed")
            return 0, 0
        shutil.copyfile(out, blas[0])
    saved = before - blas[0].stat().st_size
    print(f"forward_cv2_blas: OpenCV's {blas[0].name} replaced by {len(symbols)} jumps into "
          f"{scipy_blas.name}, {saved / 1e6:.1f} MB saved (its libgfortran goes next)")
    return len(symbols), saved


#: OpenCV's FFmpeg libraries: ``cv2`` links them for ``VideoCapture``/``VideoWriter`` only
#: (its image codecs are libpng, libjpeg... built in, and libavif).
VIDEO_LIBRARY = re.compile(r"^lib(avcodec|avformat|avutil|swscale|swresample|avdevice|avfilter)-")

_NO_VIDEO_C = r"""
#include <stdlib.h>
#include <unistd.h>
__attribute__((visibility("hidden"), noreturn)) void dermview_no_video(void) {
    static const char msg[] = "dermview: OpenCV video I/O (FFmpeg) is not part of this "
        "packaged app; it reads and writes images only. Install from source for video.\n";
    (void) !write(2, msg, sizeof msg - 1);
    abort();
}
"""


def imported_versions(path: Path) -> dict[str, str]:
    """``symbol → version`` of the versioned functions an ELF file imports
    (``av_frame_alloc@LIBAVUTIL_61``)."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], capture_output=True,
                         text=True).stdout
    found = {}
    for ln in out.splitlines():
        f = ln.split()
        if len(f) >= 8 and f[6] == "UND" and "@" in f[7]:
            name, _, version = f[7].partition("@")
            found[name] = version.split(" ")[0].lstrip("@")
    return found


def video_stub_sources(symbols: dict[str, str]) -> tuple[str, str]:
    """Assembly (every symbol jumps to ``dermview_no_video``, which says why and aborts) and
    the linker version script (each symbol under the version ``cv2`` asks for) of a
    stand-in for one FFmpeg library."""
    lines = [".text"]
    for sym in sorted(symbols):
        lines += [f".globl {sym}", f".type {sym}, @function", f"{sym}:",
                  "    jmp dermview_no_video", f".size {sym}, .-{sym}"]
    lines.append('.section .note.GNU-stack,"",@progbits')
    versions: dict[str, list[str]] = {}
    for sym, ver in symbols.items():
        versions.setdefault(ver, []).append(sym)
    script = "".join(f"{ver} {{\n  global: {'; '.join(sorted(syms))};\n  local: *;\n}};\n"
                     for ver, syms in sorted(versions.items()))
    return "\n".join(lines) + "\n", script


def drop_cv2_video(internal: Path) -> tuple[int, int]:
    """Replace the FFmpeg libraries ``cv2`` links (``libavcodec``... 37 MB with the codec
    libraries they pull in) by stand-ins that define the functions ``cv2`` imports from
    them, each of which prints that video I/O is not in this build and aborts: ``cv2``
    imports and its image functions work; ``cv2.VideoCapture``/``VideoWriter`` on a file
    would end the process, and dermview calls neither. Only on x86-64 Linux with ``cc``.
    ``(libraries replaced, bytes saved)``."""
    import platform
    import tempfile

    if not _elf_tools() or platform.machine() != "x86_64" or not shutil.which("cc"):
        print("drop_cv2_video: needs x86-64 Linux, readelf and cc; FFmpeg kept")
        return 0, 0
    cv2_so = next(iter(sorted((internal / "cv2").glob("cv2*.so"))), None)
    libs = internal / "opencv_python_headless.libs"
    if cv2_so is None or not libs.is_dir():
        print("drop_cv2_video: cv2 not in the bundle; nothing changed")
        return 0, 0
    wanted = imported_versions(cv2_so)
    count = saved = 0
    with tempfile.TemporaryDirectory() as tmp:
        c_file = Path(tmp) / "no_video.c"
        c_file.write_text(_NO_VIDEO_C)
        for name in needed(cv2_so):
            lib = libs / name
            if not VIDEO_LIBRARY.match(name) or not lib.is_file() or lib.is_symlink():
                continue
            provided = _dynamic_symbols(lib, defined=True)
            symbols = {s: v for s, v in wanted.items() if s in provided}
            asm, script = video_stub_sources(symbols)
            (Path(tmp) / "stub.s").write_text(asm)
            (Path(tmp) / "stub.map").write_text(script)
            out = Path(tmp) / name
            subprocess.run(["cc", "-shared", "-O2", "-fPIC", "-o", str(out), str(c_file),
                            str(Path(tmp) / "stub.s"), f"-Wl,-soname,{name}",
                            f"-Wl,--version-script={Path(tmp) / 'stub.map'}"], check=True)
            got = imported_versions(cv2_so)  # unchanged; check the stand-in defines them all
            if set(symbols) - _dynamic_symbols(out, defined=True) or got != wanted:
                print(f"drop_cv2_video: stand-in for {name} incomplete; FFmpeg kept")
                return count, saved
            saved += lib.stat().st_size - out.stat().st_size
            shutil.copyfile(out, lib)
            count += 1
    print(f"drop_cv2_video: {count} FFmpeg libraries replaced by stand-ins, "
          f"{saved / 1e6:.1f} MB saved (the codecs they linked go next)")
    return count, saved


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
    forward_cv2_blas(internal)
    drop_cv2_video(internal)
    prune_unreachable(internal)
    dedupe_libraries(internal)
    strip_bundle(internal)


if __name__ == "__main__":
    slim(Path(sys.argv[1]))
