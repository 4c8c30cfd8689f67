"""Make a short sample clip to try vidiff on: ``python tools/make_sample.py sample.mp4``.

A 3-second 640x360 24 fps H.264 video of coloured shapes moving over a textured background
(translation, rotation and an occlusion), with a stereo 440/660 Hz AAC tone, written with PyAV.
"""

from __future__ import annotations

import argparse
import math
from fractions import Fraction

import av
import cv2
import numpy as np


def frame_at(t: float, w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pan = 40.0 * t
    bg = 0.5 + 0.25 * np.sin((xx + pan) / 23.0) * np.cos(yy / 31.0) + 0.15 * np.sin((xx + yy + pan) / 9.0)
    img = np.stack([bg * 0.9, bg * 0.8 + 0.1, bg * 0.6 + 0.2], axis=-1)
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    cx, cy = int(w * (0.15 + 0.7 * t / 3.0)), int(h * 0.5 + 60 * math.sin(2 * t))
    cv2.circle(img, (cx, cy), 45, (220, 60, 40), -1)
    cv2.circle(img, (cx - 12, cy - 10), 12, (250, 240, 80), -1)
    box = cv2.boxPoints(((w * 0.6, h * 0.45), (140, 50), 60.0 * t))
    cv2.fillPoly(img, [box.astype(np.int32)], (40, 90, 210))
    cv2.putText(img, "vidiff", (int(30 + 30 * t), h - 30), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 3)
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output", nargs="?", default="sample.mp4")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--size", default="640x360")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    n = round(args.seconds * args.fps)
    rate = 48000
    with av.open(args.output, "w") as out:
        vs = out.add_stream("libx264", rate=args.fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.time_base = Fraction(1, args.fps)
        vs.options = {"crf": "18"}
        aud = out.add_stream("aac", rate=rate)
        aud.layout = "stereo"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(frame_at(i / args.fps, w, h), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        samples_total = int(args.seconds * rate)
        chunk = 1024
        for start in range(0, samples_total, chunk):
            tt = (np.arange(start, min(start + chunk, samples_total)) / rate).astype(np.float32)
            pcm = np.stack([0.2 * np.sin(2 * np.pi * 440 * tt), 0.2 * np.sin(2 * np.pi * 660 * tt)])
            af = av.AudioFrame.from_ndarray(pcm.astype(np.float32), format="fltp", layout="stereo")
            af.sample_rate = rate
            af.pts = start
            out.mux(aud.encode(af))
        out.mux(aud.encode())
    print(f"wrote {args.output}: {n} frames at {args.fps} fps, {w}x{h}, with audio")


if __name__ == "__main__":
    main()
