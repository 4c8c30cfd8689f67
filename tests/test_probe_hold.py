"""tools/probe_hold.py: scoring a blend towards the held frame from three sums, and its rules."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from probe_hold import AHEAD, main, psnr_of, sums, weights  # noqa: E402  (tools/ is not a package)


def frames(seed, n=AHEAD, shape=(6, 5, 3)):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def test_the_sums_score_any_blend_exactly():
    last, made, truth = frames(0, 1)[0], frames(1), frames(2)
    s = sums(made, truth, last)
    for w in (0.0, 0.3, 1.0):
        blend = [last + w * (m.astype(float) - last) for m in made]
        direct = [10 * np.log10(255.0**2 / np.mean((b - x.astype(float)) ** 2))
                  for b, x in zip(blend, truth, strict=True)]
        assert np.allclose(psnr_of(*s.T, w), direct)


def test_backtests_where_holding_was_right_give_w_0_and_where_predicting_was_w_1():
    last, made = frames(3, 1)[0], frames(4)
    held = sums(made, [last] * AHEAD, last)  # the truth held the last seed
    moved = sums(made, made, last)  # the truth was the prediction
    tests = np.stack([np.stack([held, held]), np.stack([moved, moved])])
    for rule in ("per-t", "pooled", "choose"):
        w = weights(tests, rule, prior=0.0)
        assert np.allclose(w[0], 0.0) and np.allclose(w[1], 1.0)
    assert (weights(tests, "per-t", prior=1.0)[0] > 0.4).all()  # a prior pulls towards 1


def test_windows_without_backtests_keep_the_prediction():
    tests = np.full((1, 3, AHEAD, 4), np.nan)
    assert np.allclose(weights(tests, "per-t", prior=0.25), 1.0)


def test_it_skips_without_the_clips(tmp_path, capsys):
    assert main(["--clips", str(tmp_path / "absent")]) == 0
    assert "skipped" in capsys.readouterr().err
