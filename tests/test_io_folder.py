"""Folders of frames: natural sort order, exact input rate, size checks, PNG folder output."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from media import pattern_frame, pattern_frames, write_image, write_png_folder

from vidiff.errors import InputError, OutputError
from vidiff.io import open_reader, open_writer


def test_natural_sort_and_exact_times(tmp_path):
    names = ["f1.png", "f2.png", "f10.png", "f11.jpg", "f3.webp"]  # f2 < f3 < f10 < f11
    frames = pattern_frames(5)
    for name, image in zip(names, frames, strict=True):
        write_image(tmp_path / name, image)
    (tmp_path / "readme.txt").write_text("ignored")
    with open_reader(tmp_path, input_fps="30000/1001") as reader:
        got = list(reader)
        assert reader.info.is_folder and reader.info.frame_count == 5
        assert reader.info.fps == Fraction(30000, 1001)
    order = [0, 1, 4, 2, 3]  # f1 f2 f3 f10 f11
    for frame, k in zip(got, order, strict=True):
        if names[k].endswith(".png"):
            np.testing.assert_array_equal(frame.image, frames[k])
        else:  # lossy jpg/webp: close
            assert np.abs(frame.image.astype(int) - frames[k]).mean() < 12
    assert [f.time for f in got] == [Fraction(1001 * i, 30000) for i in range(5)]
    assert reader.end_time == Fraction(5 * 1001, 30000)


def test_frame_of_another_size_is_named(tmp_path):
    write_png_folder(tmp_path, 3)
    write_image(tmp_path / "f4.png", pattern_frame(0, size=(32, 32)))
    with open_reader(tmp_path, input_fps=24) as reader:
        with pytest.raises(InputError, match="f4.png"):
            list(reader)


def test_png_folder_output(tmp_path):
    out = tmp_path / "frames"
    frames = pattern_frames(3, size=(65, 49))
    with open_writer(out, Fraction(24), (65, 49)) as writer:
        for image in frames:
            writer.write(image)
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:06d}.png" for i in range(3)]
    with open_reader(out, input_fps=24) as reader:
        for frame, image in zip(reader, frames, strict=True):
            np.testing.assert_array_equal(frame.image, image)
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]  # no temp folder left


def test_folder_output_refuses_foreign_files_even_with_overwrite(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(OutputError, match="not empty"):
        open_writer(out, 24, (64, 48))
    with pytest.raises(OutputError, match="other than frame"):
        open_writer(out, 24, (64, 48), overwrite=True)


def test_folder_overwrite_replaces_previous_frames(tmp_path):
    out = tmp_path / "frames"
    for count in (4, 2):
        with open_writer(out, 24, (64, 48), overwrite=True) as writer:
            for image in pattern_frames(count):
                writer.write(image)
    assert sorted(p.name for p in out.iterdir()) == ["frame_000000.png", "frame_000001.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]
