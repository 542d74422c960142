#!/bin/sh
# Add dermview to this user's application menu and PATH (no root needed). Run it from the
# unpacked folder; it only writes to ~/.local (the program folder itself is never changed).
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
APPS="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
ICONS="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
mkdir -p "$APPS" "$ICONS" "$HOME/.local/bin"
cp "$HERE/dermview.png" "$ICONS/dermview.png"
sed "s|^Exec=dermview|Exec=\"$HERE/dermview\"|" "$HERE/dermview.desktop" > "$APPS/dermview.desktop"
ln -sf "$HERE/dermview" "$HOME/.local/bin/dermview"
echo "Installed: $APPS/dermview.desktop and ~/.local/bin/dermview -> $HERE/dermview"
