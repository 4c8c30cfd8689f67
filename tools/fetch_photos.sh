#!/usr/bin/env bash
# Fetch the still photographs the refiner's synthetic training scenes are made from: Debian's
# desktop-background packages (no root needed: apt-get download + dpkg-deb -x), unpacked into
# DEST (default ../cache/photos). Licenses, per package (see DEST/doc/*/copyright):
#   gnome-backgrounds            CC-BY-SA 3.0 (most images; authors in its copyright file)
#   mate-backgrounds             GPL-2+ (two images CC-BY-SA 4.0)
#   plasma-workspace-wallpapers  GPL-2+ (KDE Visual Design Group)
# Then: python tools/make_triplets.py photos DEST --out packs/photos
# PHOTO_PACKAGES names other packages; the second set of photographs (pack photos-more, run pm1
# in weights/README.md):
#   PHOTO_PACKAGES="lomiri-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 ukui-wallpapers" \
#       bash tools/fetch_photos.sh ../cache/photos-more
#   lomiri-wallpapers*  CC-BY-4.0, CC-BY-SA-3.0 or CC-BY-SA-4.0 per image (authors in the copyright files)
#   ukui-wallpapers     CC-BY-SA-3.0 (Ubuntu Kylin community contributors)
set -euo pipefail
dest="${1:-$(dirname "$0")/../../cache/photos}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
packages="${PHOTO_PACKAGES:-gnome-backgrounds mate-backgrounds plasma-workspace-wallpapers}"
# shellcheck disable=SC2086  # one word per package
(cd "$work" && apt-get download $packages)
mkdir -p "$dest"
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
done
cp -r "$work/root/usr/share/." "$dest/"
echo "photos in $dest: $(find "$dest" -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.webp' \) | wc -l) files"
