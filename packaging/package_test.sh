#!/usr/bin/env bash
# make package-test: build the Linux archive from a clean tree (git archive of HEAD), unpack it
# into a temporary folder made read-only, and run the frozen `dermview --version` and
# `dermview self-test` there with QT_QPA_PLATFORM=offscreen, an empty environment (env -i), a
# working directory outside the repository and, where the kernel allows it, the source tree,
# the virtual environment and the Python installation hidden (tmpfs over /work and the
# interpreter's prefix in a private mount namespace). As root, the self-test runs once as the
# folder's owner with the folder writable (an attempted write would succeed and be seen), then
# as `nobody` with it read-only (so the read-only bits bite); the folder is compared file by
# file before/after each run.
#
# Prints and writes dist/package-test.json: build time, bundle size on disk, archive size,
# time to --version and self-test wall time, and docs/results/package_size.json (those numbers
# and the bundle's composition, packaging/bundle_composition.py). Exit 1 on any failure or an
# archive over MAX_ARCHIVE_MB (issue 11's target, 150 MB).
# KEEP=1 keeps the temporary folder; DERMVIEW_TIMING_LOCK=FILE takes that lock (flock) for the
# timed runs (--version, self-test) and runs them at normal priority.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
MAX_ARCHIVE_MB=${MAX_ARCHIVE_MB:-150}
MAX_SELFTEST_S=5

TMP="$(mktemp -d /tmp/dermview-pkgtest.XXXXXX)"
chmod 755 "$TMP"
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else chmod -R u+w "$TMP" 2>/dev/null; rm -rf "$TMP"; fi; }
trap cleanup EXIT
fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# 1. Clean tree: exactly what HEAD holds (no untracked or ignored files, no build leftovers).
mkdir "$TMP/src"
git -C "$ROOT" archive --format=tar HEAD | tar -x -C "$TMP/src"
echo "== building from a clean tree of $(git -C "$ROOT" rev-parse --short HEAD) in $TMP/src"
PYTHON="$PY" "$TMP/src/packaging/build.sh"
# The bundle must hold the clean tree's code, not an installed (editable) copy.
TOC="$(ls "$TMP/src/build/pyinstaller/dermview"/Analysis-*.toc | head -1)"
grep -q "$TMP/src/dermview/cli.py" "$TOC" || fail "bundle did not take dermview from the clean tree"
if grep -q "$ROOT/dermview/" "$TOC"; then fail "bundle took dermview from $ROOT"; fi

ARCHIVE="$(ls "$TMP/src/dist"/dermview-*-linux-*.tar.xz)"
STEM="$(basename "$ARCHIVE" .tar.xz)"
BUILD_S="$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['total_build_s'])" "$TMP/src/dist/build-info.json")"

# 2. Unpack elsewhere, make it read-only, snapshot it.
mkdir -p "$TMP/run" "$TMP/home" "$TMP/cwd"
tar -xJf "$ARCHIVE" -C "$TMP/run"
APP="$TMP/run/$STEM"
[ -x "$APP/dermview" ] && [ -f "$APP/dermview.desktop" ] && [ -f "$APP/INSTALL.md" ] \
    && [ -f "$APP/dermview.png" ] || fail "archive lacks the app, .desktop file, icon or INSTALL.md"
snapshot() { (cd "$APP" && find . -printf '%p %s %T@ %m\n' | sort); }

# 3. Run it isolated: no environment, cwd outside the repo, source tree and Pythons hidden.
RUN_AS=()
if [ "$(id -u)" = 0 ]; then
    chown 65534:65534 "$TMP/home" "$TMP/cwd"
    RUN_AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
PYPREFIX="$("$PY" -c 'import sys; print(sys.base_prefix)')"
# The checkout, the shared data beside it and the Pythons; never a folder that holds $TMP
# (a clone under /tmp must not hide the unpacked app).
HIDE=()
for d in "$ROOT" "$(dirname "$ROOT")/shared" "$PYPREFIX" /usr/lib/python3 /usr/local/lib/python3*; do
    case "$TMP/" in "$d"/*) continue ;; esac
    HIDE+=("$d")
done
cat > "$TMP/isolated.sh" <<'SH'
#!/bin/sh
# $1: "hide" to mount empty tmpfs over the folders listed in $HIDE_DIRS; then the command.
if [ "$1" = hide ]; then
    for d in $HIDE_DIRS; do [ -d "$d" ] && mount -t tmpfs -o ro,size=1k none "$d"; done
fi
shift
exec "$@"
SH
chmod 755 "$TMP/isolated.sh"
MODE=plain
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then MODE=hide; fi
isolated() {
    (cd "$TMP/cwd" && if [ "$MODE" = hide ]; then
        HIDE_DIRS="${HIDE[*]}" unshare -m "$TMP/isolated.sh" hide \
            "${RUN_AS[@]}" env -i HOME="$RUN_HOME" PATH=/usr/bin:/bin LANG=C.UTF-8 \
            QT_QPA_PLATFORM=offscreen "$@"
    else
        "$TMP/isolated.sh" plain "${RUN_AS[@]}" env -i HOME="$RUN_HOME" PATH=/usr/bin:/bin \
            LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen "$@"
    fi)
}
RUN_HOME="$TMP/home"
if [ ${#RUN_AS[@]} -gt 0 ]; then
    # First as the folder's owner with the folder writable: a write attempt would succeed
    # here and show up in the comparison (in a read-only folder it would only fail quietly).
    echo "== frozen self-test as the owner of the (writable) program folder"
    snapshot > "$TMP/before-owner.txt"
    SAVED_RUN_AS=("${RUN_AS[@]}"); RUN_AS=(); RUN_HOME="$TMP/home-owner"; mkdir -p "$RUN_HOME"
    isolated "$APP/dermview" self-test > "$TMP/owner.txt" 2>&1 || { cat "$TMP/owner.txt"; fail "frozen self-test failed (owner)"; }
    RUN_AS=("${SAVED_RUN_AS[@]}"); RUN_HOME="$TMP/home"
    snapshot > "$TMP/after-owner.txt"
    diff -u "$TMP/before-owner.txt" "$TMP/after-owner.txt" || fail "the app wrote into its own folder"
fi
chmod -R a-w,a+rX "$APP"
snapshot > "$TMP/before.txt"
echo "== running the frozen app from $APP (read-only; isolation: $MODE${RUN_AS:+, as nobody})"
if [ "$MODE" = hide ]; then
    # The isolation itself must hold: the venv's interpreter cannot run in there.
    if isolated "$PY" -c "pass" 2>/dev/null; then fail "source tree / venv still visible"; fi
fi
# The timed part: with DERMVIEW_TIMING_LOCK=FILE it waits for that lock (a machine shared with
# other benchmarks) and, when the build ran niced, runs at normal priority (root may).
if [ -n "${DERMVIEW_TIMING_LOCK:-}" ]; then
    exec 9>"$DERMVIEW_TIMING_LOCK"; flock 9
    [ "$(id -u)" = 0 ] && renice -n 0 -p $$ >/dev/null
fi
t0=$(now); isolated "$APP/dermview" --version; t1=$(now)
VERSION_S=$(elapsed "$t0" "$t1")
t0=$(now); isolated "$APP/dermview" --version >/dev/null; t1=$(now)
VERSION_WARM_S=$(elapsed "$t0" "$t1")
t0=$(now)
set +e
isolated "$APP/dermview" self-test --json "$TMP/home/self-test.json"
RC=$?
set -e
t1=$(now)
SELFTEST_S=$(elapsed "$t0" "$t1")
LOAD=$(cut -d' ' -f1 /proc/loadavg)
if [ -n "${DERMVIEW_TIMING_LOCK:-}" ]; then flock -u 9; exec 9>&-; fi
[ "$RC" = 0 ] || fail "frozen self-test exited $RC"
grep -q '"frozen": true' "$TMP/home/self-test.json" || fail "self-test did not run frozen"
grep -q "\"resources\": \"$APP/_internal/resources\"" "$TMP/home/self-test.json" \
    || fail "self-test used resources outside the bundle"

# The harness itself: the folder really is read-only for the app (writing there fails), while
# the frozen batch CLI and install.sh work with user locations.
SAMPLE="$APP/_internal/resources/samples/IMD002.jpg"
if isolated "$APP/dermview" segment "$SAMPLE" --out "$APP/out" >/dev/null 2>&1 || [ -e "$APP/out" ]; then
    fail "the program folder is writable for the app: the read-only check would prove nothing"
fi
isolated "$APP/dermview" segment "$SAMPLE" --out "$TMP/home/labels" >/dev/null
[ -f "$TMP/home/labels/IMD002_segmentation.png" ] || fail "frozen 'dermview segment' wrote no mask"
isolated "$APP/install.sh" >/dev/null
grep -q "^Exec=\"$APP/dermview\"" "$TMP/home/.local/share/applications/dermview.desktop" \
    || fail "install.sh did not write a menu entry pointing at the app"

# 4. Nothing written into the program folder.
snapshot > "$TMP/after.txt"
diff -u "$TMP/before.txt" "$TMP/after.txt" || fail "the app changed files in its own folder"

BUNDLE_BYTES=$(du -sb "$APP" | cut -f1)
ARCHIVE_BYTES=$(stat -c %s "$ARCHIVE")
mkdir -p "$ROOT/dist"
cp "$ARCHIVE" "$ROOT/dist/"
cp "$TMP/home/self-test.json" "$ROOT/dist/package-test-self-test.json"
DICE=$("$PY" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['dice'], 4))" "$TMP/home/self-test.json")
# Window check = a fresh frozen process that imports Qt and opens the main window (started
# first: it runs alongside the other checks).
GUI_S=$("$PY" -c "import json,sys; print(round({c['name']: c for c in json.load(open(sys.argv[1]))['checks']}['gui']['seconds'], 2))" "$TMP/home/self-test.json")
cat > "$ROOT/dist/package-test.json" <<JSON
{"archive": "dist/$STEM.tar.xz", "build_s": $BUILD_S, "bundle_bytes": $BUNDLE_BYTES,
 "archive_bytes": $ARCHIVE_BYTES, "version_cold_s": $VERSION_S, "version_warm_s": $VERSION_WARM_S,
 "self_test_s": $SELFTEST_S, "self_test_dice": $DICE, "gui_process_window_s": $GUI_S,
 "gui_alongside": true, "isolation": "$MODE", "as_nobody": $([ ${#RUN_AS[@]} -gt 0 ] && echo true || echo false),
 "load_average": $LOAD}
JSON
"$PY" "$ROOT/packaging/bundle_composition.py" "$APP" "$ROOT/dist/package-test.json" \
    "$ROOT/docs/results/package_size.json"
[ "$ARCHIVE_BYTES" -le $((MAX_ARCHIVE_MB * 1000000)) ] \
    || fail "archive is $ARCHIVE_BYTES bytes, over $MAX_ARCHIVE_MB MB"
echo
echo "== package-test: PASS"
printf '  %-28s %s s\n' "build (clean tree)" "$BUILD_S"
printf '  %-28s %s MB\n' "bundle on disk" "$(awk -v b="$BUNDLE_BYTES" 'BEGIN{printf "%.1f", b/1e6}')"
printf '  %-28s %s MB (target <= %s)\n' "archive" "$(awk -v b="$ARCHIVE_BYTES" 'BEGIN{printf "%.1f", b/1e6}')" "$MAX_ARCHIVE_MB"
printf '  %-28s %s s (warm %s s)\n' "frozen --version" "$VERSION_S" "$VERSION_WARM_S"
printf '  %-28s %s s (target < %s)  Dice %s\n' "frozen self-test" "$SELFTEST_S" "$MAX_SELFTEST_S" "$DICE"
printf '  %-28s %s s\n' "frozen start to main window" "$GUI_S"
echo "  -> dist/$STEM.tar.xz, dist/package-test.json"
awk -v s="$SELFTEST_S" -v m="$MAX_SELFTEST_S" 'BEGIN { exit !(s >= m) }' \
    && echo "  WARNING: self-test took ${SELFTEST_S} s (target < ${MAX_SELFTEST_S} s; machine load?)"
exit 0
