#!/usr/bin/env bash
# Fetch the still photographs the refiner's synthetic training scenes are made from: Debian's
# desktop-background packages (no root needed: apt-get download + dpkg-deb -x), unpacked into
# DEST (default ../cache/photos). Licenses, per package (see DEST/doc/*/copyright):
#   gnome-backgrounds            CC-BY-SA 3.0 (most images; authors in its copyright file)
#   mate-backgrounds             GPL-2+ (two images CC-BY-SA 4.0)
#   plasma-workspace-wallpapers  GPL-2+ (KDE Visual Design Group)
# Then: python tools/make_triplets.py photos DEST --out packs/photos
set -euo pipefail
dest="${1:-$(dirname "$0")/../../cache/photos}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download gnome-backgrounds mate-backgrounds plasma-workspace-wallpapers)
mkdir -p "$dest"
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
done
cp -r "$work/root/usr/share/." "$dest/"
echo "photos in $dest: $(find "$dest" -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.webp' \) | wc -l) files"
