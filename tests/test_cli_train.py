"""``vidiff train`` on the command line, then its weights used by ``vidiff interpolate``."""

from pathlib import Path

from media import pattern_frame, read_frames_pyav, write_clip, write_png_folder

from vidiff.cli import main
from vidiff.model import load_weights

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_train_then_interpolate_with_the_weights(tmp_path, capsys):
    frames = write_png_folder(tmp_path / "seq", [pattern_frame(i, (64, 48)) for i in range(12)])
    run = tmp_path / "run"
    code = main([
        "train", "--config", str(CONFIGS / "tiny.toml"), "--data", str(frames),
        "--out", str(run), "--steps", "3", "--device", "cpu",
    ])
    assert code == 0
    weights = run / "last.safetensors"
    assert load_weights(weights).config is not None
    assert "weights:" in capsys.readouterr().err

    src = write_clip(tmp_path / "in.mp4", 4, fps=12, size=(64, 48))
    out = tmp_path / "out.mp4"
    assert main([
        "interpolate", str(src), "-o", str(out), "--multi", "2", "--weights", str(weights),
        "--steps", "2", "--device", "cpu", "-q",
    ]) == 0
    assert len(read_frames_pyav(out)) == 8


def test_train_bad_config_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nstepz = 3\n")
    code = main(["train", "--config", str(bad), "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("vidiff: error:") and "stepz" in err and "\n" not in err
