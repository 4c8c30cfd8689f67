"""Jump cuts: a cut between two framings with the same colours, which the histogram test misses,
is found by what the optical flow cannot explain, and fast real motion is not taken for one."""

import cv2
import numpy as np

import vidiff
from vidiff.scenes import SceneDetector, motion_residual, thumbnail

W, H = 160, 96


def texture(seed: int, size=(480, 320)) -> np.ndarray:
    """A smooth random texture; every seed has the same colour palette (so the same histogram,
    statistically)."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((size[1], size[0])).astype(np.float32), (0, 0), 4)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    lut = np.stack([np.linspace(30, 230, 256), np.linspace(60, 200, 256),
                    np.linspace(90, 140, 256)], 1).astype(np.uint8)
    return lut[(noise * 255).astype(np.uint8)]


def pan(tex: np.ndarray, n: int, speed: float, start: float = 0.0) -> list[np.ndarray]:
    """``n`` frames of a camera moving right across ``tex`` at ``speed`` px per frame."""
    out = []
    for i in range(n):
        x = start + i * speed
        m = np.float32([[1, 0, -x], [0, 1, -20]])
        out.append(cv2.warpAffine(tex, m, (W, H), flags=cv2.INTER_LINEAR))
    return out


def jump_clip():
    """Six frames of one framing, then six of another with the same palette and motion."""
    return pan(texture(1), 6, 2.0) + pan(texture(2), 6, 2.0, start=40)


def test_histogram_test_misses_the_jump_and_the_flow_test_finds_it():
    thumbs = [thumbnail(f) for f in jump_clip()]
    detector = SceneDetector()
    assert not detector.is_cut(thumbs[5], thumbs[6])  # same colours: the old test misses it
    assert detector.cuts(thumbs) == [6]


def test_fast_motion_is_not_a_jump_cut():
    frames = pan(texture(3), 12, 9.0)  # 9 px per frame on a 160 px frame
    thumbs = [thumbnail(f) for f in frames]
    assert SceneDetector().cuts(thumbs) == []
    assert motion_residual(thumbs[3], thumbs[4]) < 0.04


def test_no_jump_test_without_neighbours_or_with_detection_off():
    thumbs = [thumbnail(f) for f in jump_clip()[5:7]]
    assert SceneDetector().cuts(thumbs) == []  # two frames: nothing to compare the change with
    thumbs = [thumbnail(f) for f in jump_clip()]
    assert SceneDetector(cut_threshold=None).cuts(thumbs) == []


def test_tiny_frames_do_not_break_the_flow_test():
    frames = [np.full((6, 8, 3), v, np.uint8) for v in (10, 12, 200, 202)]
    thumbs = [thumbnail(f) for f in frames]
    assert isinstance(SceneDetector().cuts(thumbs), list)


def test_pipeline_holds_a_jump_cut_instead_of_morphing():
    src = jump_clip()
    out = list(vidiff.interpolate_frames(src, multi=2, steps=0, refine=False, device="cpu"))
    # output 11 lies half-way between the last frame of the first framing and the first of the next
    assert np.array_equal(out[11], src[6]) or np.array_equal(out[11], src[5])
    assert not np.array_equal(out[9], src[4]) and not np.array_equal(out[9], src[5])  # moved
