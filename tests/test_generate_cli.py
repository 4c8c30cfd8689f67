"""``vidiff generate`` end to end: files in, files out, and one clear line for every bad input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from media import pattern_frame, read_frames_pyav, write_clip, write_image, write_random_bytes

from vidiff.cli import main
from vidiff.io import open_reader
from vidiff.model import Denoiser, ModelConfig, save_weights

SIZE = (48, 32)



@pytest.fixture(autouse=True)
def no_default_weights(monkeypatch):
    """Tests must not pick up a weights file that happens to lie in the source tree."""
    monkeypatch.setattr("vidiff.pipelines.weights.default_weights_path", lambda: None)


@pytest.fixture
def seeds(tmp_path) -> list[str]:
    return [str(write_image(tmp_path / f"s{i}.png", pattern_frame(i, SIZE))) for i in range(2)]


@pytest.fixture
def weights(tmp_path) -> str:
    """The tiny model with every weight nudged at random (non-zero output, so samples differ)."""
    torch.manual_seed(0)
    denoiser = Denoiser(ModelConfig.tiny())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in denoiser.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    return str(save_weights(tmp_path / "tiny.safetensors", denoiser))


def folder_frames(folder) -> list[np.ndarray]:
    with open_reader(folder, input_fps=Fraction(24)) as reader:
        return [f.image for f in reader]


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run_ok(argv, capsys) -> None:
    assert main([*argv, "-q"]) == 0, capsys.readouterr().err


def test_png_folder_holds_the_seeds_exactly_then_the_new_frames(tmp_path, seeds, capsys):
    out = tmp_path / "out"
    run_ok(["generate", *seeds, "-o", f"{out}/", "--frames", "3", "--steps", "0"], capsys)
    frames = folder_frames(out)
    assert len(frames) == 5
    assert np.array_equal(frames[0], pattern_frame(0, SIZE))
    assert np.array_equal(frames[1], pattern_frame(1, SIZE))


def test_video_seed_uses_its_last_frames_and_its_rate(tmp_path, capsys):
    clip = write_clip(tmp_path / "in.mkv", 7, fps=Fraction(30000, 1001), size=SIZE)
    run_ok(
        [
            "generate",
            str(clip),
            "--seed-frames",
            "3",
            "-o",
            str(tmp_path / "o"),
            "--frames",
            "2",
            "--steps",
            "0",
        ],
        capsys,
    )
    frames = folder_frames(tmp_path / "o")
    assert len(frames) == 5
    for got, i in zip(frames[:3], (4, 5, 6), strict=True):
        assert np.array_equal(got, pattern_frame(i, SIZE))
    run_ok(
        ["generate", str(clip), "-o", str(tmp_path / "o.mp4"), "--frames", "2", "--steps", "0"],
        capsys,
    )
    with open_reader(tmp_path / "o.mp4") as reader:
        assert reader.info.fps == Fraction(30000, 1001)
        assert len(list(reader)) == 5  # 3 seeds by default + 2


def test_image_seeds_default_to_24_fps_or_the_given_rate(tmp_path, seeds, capsys):
    run_ok(["generate", *seeds, "-o", str(tmp_path / "a.mp4"), "--frames", "2"], capsys)
    run_ok(
        ["generate", *seeds, "-o", str(tmp_path / "b.mp4"), "--frames", "2", "--fps", "12.5"],
        capsys,
    )
    with open_reader(tmp_path / "a.mp4") as a, open_reader(tmp_path / "b.mp4") as b:
        assert (a.info.fps, b.info.fps) == (24, Fraction(25, 2))
    assert len(read_frames_pyav(tmp_path / "b.mp4")) == 4


def test_samples_are_named_reproducible_and_different(tmp_path, seeds, weights, capsys):
    common = [
        "--frames",
        "2",
        "--samples",
        "2",
        "--seed",
        "7",
        "--weights",
        weights,
        "--steps",
        "2",
        "--window-unknown",
        "2",
    ]
    run_ok(["generate", *seeds, "-o", str(tmp_path / "a"), *common], capsys)
    run_ok(["generate", *seeds, "-o", str(tmp_path / "b"), *common], capsys)
    assert not (tmp_path / "a").exists()
    a0, a1 = folder_frames(tmp_path / "a_0"), folder_frames(tmp_path / "a_1")
    b0 = folder_frames(tmp_path / "b_0")
    assert len(a0) == len(a1) == 4
    assert all(np.array_equal(x, y) for x, y in zip(a0, b0, strict=True)), (
        "same --seed, same frames"
    )
    assert all(np.array_equal(x, y) for x, y in zip(a0[:2], a1[:2], strict=True)), (
        "both start with the seeds"
    )
    assert not np.array_equal(np.stack(a0[2:]), np.stack(a1[2:])), "samples differ"


def test_seeds_across_a_cut_continue_the_last_shot_unless_told_not_to(tmp_path, seeds, capsys):
    """The third seed opens another shot: its frames are held (one seed after the cut), with a
    warning; with --no-scene-detect the flow across the cut is extrapolated."""
    other = pattern_frame(9, SIZE, (-1.0, 0.5)) // 4 + 180
    given = [*seeds, str(write_image(tmp_path / "s2.png", other))]
    out, blind = tmp_path / "out", tmp_path / "blind"
    with pytest.warns(UserWarning, match="a scene cut lies between seed 1 and seed 2"):
        run_ok(["generate", *given, "-o", f"{out}/", "--frames", "2", "--steps", "0"], capsys)
    frames = folder_frames(out)
    assert len(frames) == 5 and all(np.array_equal(f, other) for f in frames[3:])
    run_ok(["generate", *given, "-o", f"{blind}/", "--frames", "2", "--steps", "0",
            "--no-scene-detect"], capsys)
    assert not np.array_equal(folder_frames(blind)[3], other)


def test_overwrite_replaces_an_existing_output(tmp_path, seeds, capsys):
    out = str(tmp_path / "o.mp4")
    run_ok(["generate", *seeds, "-o", out, "--frames", "1"], capsys)
    run_ok(["generate", *seeds, "-o", out, "--frames", "3", "--overwrite"], capsys)
    assert len(read_frames_pyav(out)) == 5


def test_an_interrupted_run_leaves_nothing(tmp_path, seeds, weights, capsys, monkeypatch):
    from vidiff.pipelines.generate import ClipGenerator

    real = ClipGenerator.stream

    def stream_then_stop(self, *args, **kwargs):
        it = real(self, *args, **kwargs)
        yield next(it)
        raise KeyboardInterrupt

    monkeypatch.setattr(ClipGenerator, "stream", stream_then_stop)
    before = listing(tmp_path)
    code = main(
        [
            "generate",
            *seeds,
            "-o",
            str(tmp_path / "o.mp4"),
            "--frames",
            "4",
            "--samples",
            "2",
            "--weights",
            weights,
            "--steps",
            "1",
            "-q",
        ]
    )
    assert code == 130
    assert listing(tmp_path) == before


def _bad_inputs(tmp: Path, seeds: list[str]) -> dict[str, tuple[list[str], str]]:
    small = str(write_image(tmp / "small.png", pattern_frame(0, (16, 16))))
    junk = str(write_random_bytes(tmp / "junk.png"))
    empty = tmp / "empty.png"
    empty.write_bytes(b"")
    video = str(write_random_bytes(tmp / "junk.mp4"))
    taken = tmp / "taken.mp4"
    taken.write_bytes(b"already here")
    out = str(tmp / "new.mp4")
    return {
        "missing seed": (
            [seeds[0], str(tmp / "nope.png"), "-o", out, "--frames", "2"],
            "does not exist",
        ),
        "unreadable seed": ([seeds[0], junk, "-o", out, "--frames", "2"], "cannot be read"),
        "empty seed": ([seeds[0], str(empty), "-o", out, "--frames", "2"], "empty"),
        "different sizes": ([seeds[0], small, "-o", out, "--frames", "2"], "same size"),
        "video among images": ([seeds[0], video, "-o", out, "--frames", "2"], "not an image"),
        "unreadable video": ([video, "-o", out, "--frames", "2"], "junk.mp4"),
        "no frames": ([*seeds, "-o", out, "--frames", "0"], "--frames"),
        "no samples": ([*seeds, "-o", out, "--frames", "2", "--samples", "0"], "--samples"),
        "negative fps": ([*seeds, "-o", out, "--frames", "2", "--fps", "-24"], "--fps"),
        "text fps": ([*seeds, "-o", out, "--frames", "2", "--fps", "fast"], "--fps"),
        "scene threshold": (
            [*seeds, "-o", out, "--frames", "2", "--scene-threshold", "1.5"], "--scene-threshold"
        ),
        "no seed frames": (
            [*seeds, "-o", out, "--frames", "2", "--seed-frames", "0"],
            "--seed-frames",
        ),
        "window": (
            [*seeds, "-o", out, "--frames", "2", "--window-unknown", "0"],
            "--window-unknown",
        ),
        "stride": (
            [*seeds, "-o", out, "--frames", "2", "--hierarchical", "--stride", "1"],
            "--stride",
        ),
        "existing output": ([*seeds, "-o", str(taken), "--frames", "2"], "exists"),
        "output suffix": ([*seeds, "-o", str(tmp / "o.xyz"), "--frames", "2"], ".xyz"),
        "output dir": (
            [*seeds, "-o", str(tmp / "no" / "o.mp4"), "--frames", "2"],
            "does not exist",
        ),
        "output is a seed": ([*seeds, "-o", seeds[0], "--frames", "2"], "same as the input"),
        "steps, no weights": ([*seeds, "-o", out, "--frames", "2", "--steps", "2"], "weights"),
        "missing weights": (
            [*seeds, "-o", out, "--frames", "2", "--weights", str(tmp / "w.safetensors")],
            "w.safetensors",
        ),
        "bad sampler": ([*seeds, "-o", out, "--frames", "2", "--sampler", "nope"], "--sampler"),
        "bad crf": ([*seeds, "-o", out, "--frames", "2", "--crf", "99"], "crf"),
    }


BAD = [
    "missing seed",
    "unreadable seed",
    "empty seed",
    "different sizes",
    "video among images",
    "unreadable video",
    "no frames",
    "no samples",
    "negative fps",
    "text fps",
    "no seed frames",
    "scene threshold",
    "window",
    "stride",
    "existing output",
    "output suffix",
    "output dir",
    "output is a seed",
    "steps, no weights",
    "missing weights",
    "bad sampler",
    "bad crf",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_line_exit_1_and_no_output(case, tmp_path, seeds, capsys):
    argv, needle = _bad_inputs(tmp_path, seeds)[case]
    before = listing(tmp_path)
    capsys.readouterr()
    code = main(["generate", *argv, "-q"])
    err = capsys.readouterr().err
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidiff: error: "), err
    assert needle in lines[0]
    assert listing(tmp_path) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["s.png", "-o", "o.mp4"],  # --frames missing
        ["s.png", "-o", "o.mp4", "--frames", "two"],
        ["--frames", "2", "-o", "o.mp4"],  # no seeds
        ["s.png", "--frames", "2"],  # no output
    ],
)
def test_usage_errors_exit_2(argv, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["generate", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("vidiff: error: ") and len(err.strip().splitlines()) == 1
    assert listing(tmp_path) == set()


CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips" / "imageio_realshort.mp4"


@pytest.mark.data
@pytest.mark.skipif(not CLIP.is_file(), reason="../shared/data/clips is not here")
def test_real_clip_continues_from_its_last_frames(tmp_path, capsys):
    run_ok(["generate", str(CLIP), "-o", str(tmp_path / "o"), "--frames", "2"], capsys)
    frames = folder_frames(tmp_path / "o")
    real = read_frames_pyav(CLIP)
    assert len(frames) == 5  # the last 3 frames by default, then 2 new ones
    assert all(np.array_equal(frames[i], real[i - 3]) for i in range(3))
