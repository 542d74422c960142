#!/usr/bin/env bash
# Build the one-folder PyInstaller bundle and the Linux archive
#   dist/dermview-<version>-linux-x86_64.tar.xz  (xz: about 0.7x the size of gzip for this bundle)
# (folder dermview-<version>-linux-x86_64/ with the app, dermview.desktop, dermview.png, INSTALL.md, install.sh).
#
# Usage: packaging/build.sh            (uses .venv/bin/python, or $PYTHON)
#        DERMVIEW_SLIM=0 packaging/build.sh   (no exclusions: to measure what they save)
# Prints build time, bundle size and archive size; writes them to dist/build-info.json.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "PyInstaller missing: $PY -m pip install -e '.[package]'" >&2
    exit 1
fi
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' dermview/__init__.py)"
[ -n "$VERSION" ] || { echo "cannot read __version__ from dermview/__init__.py" >&2; exit 1; }
ARCH="$(uname -m)"
STEM="dermview-$VERSION-linux-$ARCH"
DIST="$ROOT/dist"
WORK="$ROOT/build/pyinstaller"
[ -f resources/models/dermview_default.pt ] || { echo "resources/models/dermview_default.pt missing" >&2; exit 1; }

start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" packaging/dermview.spec
built=$(date +%s)

STAGE="$DIST/$STEM"
rm -rf "$STAGE"
mv "$DIST/dermview" "$STAGE"
if [ "${DERMVIEW_SLIM:-1}" != 0 ]; then "$PY" packaging/strip_bundle.py "$STAGE/_internal"; fi
cp packaging/dermview.desktop resources/icons/dermview.png packaging/INSTALL.md \
   packaging/install.sh "$STAGE/"
chmod 755 "$STAGE/install.sh"
XZ_OPT="${XZ_OPT:--6 -T0}" tar -C "$DIST" -cJf "$DIST/$STEM.tar.xz" "$STEM"
end=$(date +%s)

bundle_bytes=$(du -sb "$STAGE" | cut -f1)
archive_bytes=$(stat -c %s "$DIST/$STEM.tar.xz")
cat > "$DIST/build-info.json" <<JSON
{"version": "$VERSION", "slim": "${DERMVIEW_SLIM:-1}", "pyinstaller_s": $((built - start)),
 "total_build_s": $((end - start)), "bundle_bytes": $bundle_bytes, "archive_bytes": $archive_bytes,
 "archive": "dist/$STEM.tar.xz"}
JSON
printf 'build: %ss (pyinstaller %ss)  bundle: %s MB  archive: %s MB  -> %s\n' \
    "$((end - start))" "$((built - start))" "$((bundle_bytes / 1000000))" \
    "$((archive_bytes / 1000000))" "dist/$STEM.tar.xz"
