"""Seeds that hold their pictures in a cadence (on twos, a frame repeated every third):
found, and continued in it, by the pipeline and by ``vidiff generate`` from a video."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from media import pattern_frame, write_clip

from vidiff.cli import main
from vidiff.io import open_reader
from vidiff.pipelines.cadence import Cadence, distinct, find_cadence, transition_holds
from vidiff.pipelines.generate import ClipGenerator
from vidiff.scenes import thumbnail

SIZE = (96, 64)
M, H = False, True  # a transition that moves, one that holds


def picture(i: float) -> np.ndarray:
    return pattern_frame(i, SIZE, velocity=(3.0, 1.0))


def held(pattern: list[int], count: int, offset: int = 0) -> tuple[list[np.ndarray], list[float]]:
    """``count`` frames showing pictures each for ``pattern[k % len]`` frames, from picture 0;
    the picture index of every frame as well."""
    frames, index, k = [], [], offset
    while len(frames) < count + 40:
        frames += [picture(k)] * pattern[k % len(pattern)]
        index += [k] * pattern[k % len(pattern)]
        k += 1
    return frames[:count], index[:count]


def noisy(frames: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """As a codec leaves them: a held picture is not bit-identical to the one it repeats."""
    rng = np.random.default_rng(seed)
    return [np.clip(f + rng.integers(-1, 2, f.shape), 0, 255).astype(np.uint8) for f in frames]


@pytest.mark.parametrize("holds,found", [
    ([M, H] * 4, (M, H)),  # on twos, ending with a hold: the next frame moves
    ([H, M] * 4, (H, M)),
    ([M, M, H] * 3, (M, M, H)),  # 16 fps shown at 24
    ([H, H, H, M] * 2, (H, H, H, M)),  # a slideshow of held pictures
    ([M, H, M, M, M, H, M, H], (M, H)),  # only the last two periods count
    ([M, H, M, H], (M, H)),  # twice is enough
    ([M, H, M], None),  # seen once and a half
    ([M] * 10, None),  # steady motion
    ([H] * 10, (H,)),  # a still shot: held
    ([H, H], (H,)),
    ([H], None),  # one transition shows nothing
    ([M, H, H], None),  # it moved, then held: no pattern yet
    ([M, H, M, M, H, M, M, M, H], None),  # holds now and then, no pattern
])
def test_a_cadence_is_the_shortest_pattern_seen_twice(holds, found):
    cadence = find_cadence(holds)
    assert (None if cadence is None else cadence.holds) == found


def test_the_future_continues_the_pattern_and_pictures_skip_the_holds():
    assert Cadence((M, M, H)).future(7) == [M, M, H, M, M, H, M]
    assert distinct([M, H, M, H, H]) == [0, 1, 3]
    assert distinct([]) == [0]


def test_holds_are_told_from_motion_in_coded_frames():
    frames, index = held([2], 12)
    holds = transition_holds([thumbnail(f) for f in noisy(frames)])
    assert holds == [a == b for a, b in zip(index, index[1:])]
    slow = [picture(0.25 * i) for i in range(8)]  # slow motion (0.75 px a frame) is no hold...
    assert not any(transition_holds([thumbnail(f) for f in slow]))
    assert all(transition_holds([thumbnail(f) for f in noisy([picture(0)] * 6)]))  # ...a still is


def mean_psnr(guess: list[np.ndarray], truth: list[np.ndarray]) -> float:
    out = []
    for a, b in zip(guess, truth, strict=True):
        mse = np.mean((a.astype(np.float64) - b) ** 2)
        out.append(100.0 if mse == 0 else 10 * np.log10(255.0**2 / mse))
    return float(np.mean(out))


@pytest.mark.parametrize("pattern", [[2], [1, 2], [3], [2, 2, 1]])
def test_seeds_in_a_cadence_continue_it(pattern):
    frames, _ = held(pattern, 20)
    before, seeds, truth = frames[:9], frames[9:12], frames[12:20]
    gen = ClipGenerator()
    made = list(gen.stream(seeds, 8, before=before))
    plain = list(ClipGenerator(cadence=False).stream(seeds, 8, before=before))
    assert len(made) == 8
    # the new frames hold where the truth holds: each is the frame before it, exactly
    for prev, this, t_prev, t_this in zip([seeds[-1], *made], made, [seeds[-1], *truth], truth):
        assert np.array_equal(this, prev) == np.array_equal(t_this, t_prev)
    assert mean_psnr(made, truth) > mean_psnr(plain, truth) + 3
    # without the frames before, three seeds cannot show a cadence: continued as they are
    assert all(np.array_equal(a, b) for a, b in zip(gen.stream(seeds, 8), plain))


def test_steady_motion_and_a_cut_before_the_seeds_are_continued_as_they_are():
    frames = [picture(i) for i in range(12)]
    gen, plain = ClipGenerator(), ClipGenerator(cadence=False)
    assert all(np.array_equal(a, b) for a, b in zip(gen.stream(frames[9:], 4, before=frames[:9]),
                                                     plain.stream(frames[9:], 4)))
    # a cadence shown before a cut is not the new shot's
    other = [255 - f for f in held([2], 8)[0]]
    assert all(np.array_equal(a, b) for a, b in zip(gen.stream(frames[9:], 4, before=other),
                                                     plain.stream(frames[9:], 4)))


def test_generate_from_a_video_on_twos_keeps_the_cadence(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("vidiff.pipelines.weights.default_weights_path", lambda: None)
    frames, index = held([2], 24)
    clip = write_clip(tmp_path / "twos.mkv", frames[:18], size=SIZE)
    out = tmp_path / "out"  # PNG frames: exact
    for extra in ([], ["--no-cadence"]):
        assert main(["generate", str(clip), "-o", f"{out}/", "--frames", "6", "--steps", "0",
                     "-q", "--overwrite", *extra]) == 0, capsys.readouterr().err
        with open_reader(out, input_fps=Fraction(24)) as reader:
            made = [f.image for f in reader]
        assert len(made) == 9  # its last 3 frames, then the 6 new ones
        assert all(np.array_equal(a, b) for a, b in zip(made[:3], frames[15:18]))
        holds = [np.array_equal(a, b) for a, b in zip(made[2:], made[3:])]
        if extra:
            # its last two seeds show one picture: no motion is seen, the last one is held
            assert all(holds) and mean_psnr(made[3:], frames[18:24]) < 25
        else:
            assert holds == [a == b for a, b in zip(index[17:], index[18:24])]
            assert mean_psnr(made[3:], frames[18:24]) > 30


def test_still_seeds_are_held_exactly():
    seeds = noisy([picture(0)] * 4, seed=3)  # a still shot, as a codec leaves it
    made = list(ClipGenerator().stream(seeds, 5))
    assert all(np.array_equal(m, seeds[-1]) for m in made)
    plain = list(ClipGenerator(cadence=False).stream(seeds, 5))
    assert not all(np.array_equal(m, seeds[-1]) for m in plain)  # noise has a flow
