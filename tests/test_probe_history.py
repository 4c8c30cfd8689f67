"""tools/probe_history.py: the backtest on a third seed, its rules and the table it fits."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from probe_history import FACTORS, frame_psnr, main, rules, summed_choice  # noqa: E402  (tools/ is not a package)


def test_frame_psnr_is_the_psnr_of_the_mean_block_error_of_each_frame():
    mse = np.array([[1e-2], [1e-4], [1e-3], [1e-3]])
    position = np.array([0, 0, 1, 1])
    got = frame_psnr(mse, position)
    assert np.allclose(got[:, 0], [-10 * np.log10(0.00505), 30.0])


def synthetic(backtest_knows: bool, positions=40, blocks=6, seed=0):
    """Blocks whose best factor at every t is drawn at random; the backtest's best is that same
    factor (``backtest_knows``) or unrelated to it."""
    rng = np.random.default_rng(seed)
    n = positions * blocks
    best = rng.integers(0, len(FACTORS), n)
    g = np.array(FACTORS)
    fwd = np.stack([1e-3 * (1 + 4 * np.abs(g[None] - g[best][:, None]) * k) for k in (1, 2, 3, 4)], 1)
    told = best if backtest_knows else rng.integers(0, len(FACTORS), n)
    back = 1e-3 * (1 + np.abs(g[None] - g[told][:, None]))
    return {"fwd": fwd, "repeat": fwd[:, :, 0], "back": back, "residual": rng.random(n),
            "position": np.repeat(np.arange(positions), blocks)}


def odd_mean(values, m):
    odd = np.unique(m["position"][m["position"] % 2 == 1])
    return frame_psnr(values, m["position"])[odd].mean()


def test_a_backtest_that_knows_each_blocks_best_factor_reaches_the_oracle():
    m = synthetic(backtest_knows=True)
    table, fitted = rules(m, bins=4)
    oracle = odd_mean(table["oracle: each block's best factor"], m)
    assert np.isclose(odd_mean(table["backtest: its best factor, at every t"], m), oracle)
    assert np.isclose(odd_mean(table["rule: per t and backtest's best factor"], m), oracle)
    assert odd_mean(table["rule: one factor per t"], m) < oracle - 0.5
    assert (fitted == np.arange(len(FACTORS))[None]).all()  # the table: use what the backtest says


def test_a_backtest_that_knows_nothing_buys_nothing_and_no_rule_beats_the_oracle():
    m = synthetic(backtest_knows=False)
    table, _ = rules(m, bins=4)
    oracle = odd_mean(table["oracle: each block's best factor"], m)
    per_t = odd_mean(table["rule: one factor per t"], m)
    assert odd_mean(table["rule: per t and backtest's best factor"], m) < per_t + 0.3
    assert all(odd_mean(v, m) <= oracle + 1e-9 for v in table.values())


def test_a_second_backtest_that_knows_what_the_first_does_not_is_used():
    m = synthetic(backtest_knows=False, positions=400)  # every (t, factor, factor) cell seen
    g = np.array(FACTORS)
    best = m["fwd"][:, 0].argmin(1)  # each block's best factor (the same at every t)
    m["back2"] = 1e-3 * (1 + np.abs(g[None] - g[best][:, None]))
    table, _ = rules(m, bins=4)
    oracle = odd_mean(table["oracle: each block's best factor"], m)
    first = odd_mean(table["rule: per t and backtest's best factor"], m)
    assert np.isclose(odd_mean(table["rule: per t and each backtest's best factor"], m), oracle)
    assert odd_mean(table["rule: per t and both backtests' best factor (errors summed)"], m) > first + 0.5


def test_a_clip_of_steady_motion_is_probed_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(0)
    wide = cv2.resize(rng.integers(0, 255, (16, 40, 3), dtype=np.uint8), (320, 128),
                      interpolation=cv2.INTER_CUBIC)
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(14):  # 4 px a frame to the left
        cv2.imwrite(str(folder / f"{i:04d}.png"), wide[:, 4 * i:4 * i + 128])
    out = tmp_path / "report.md"
    assert main([str(folder), "--every", "2", "--block", "32", "--output", str(out)]) == 0
    text = out.read_text()
    assert "## all positions: 4 positions" in text
    mu = next(line for line in text.splitlines() if line.startswith("| mu (flow x 1)"))
    repeat = next(line for line in text.splitlines() if line.startswith("| repeat frame1"))
    assert float(mu.split("|")[-3]) > float(repeat.split("|")[-3]) + 5  # the motion goes on
    kept = tmp_path / "kept.npz"
    assert main([str(folder), "--every", "2", "--block", "32", "--depth", "2",
                 "--output", str(out), "--save", str(kept)]) == 0
    text = out.read_text()
    lines = text.splitlines()
    both = next(line for line in lines if line.startswith("| rule: per t and both backtests'"))
    repeat = next(line for line in lines if line.startswith("| repeat frame1"))
    assert float(both.split("|")[-3]) > float(repeat.split("|")[-3]) + 5  # both say it goes on
    assert "both backtests (errors summed), fitted on every position" in text  # its own table
    again = tmp_path / "again.md"
    assert main(["--load", str(kept), "--output", str(again)]) == 0  # no decoding this time
    assert again.read_text().split("## all positions")[1] == text.split("## all positions")[1]


def test_load_refuses_a_missing_file_and_sources_beside_it(tmp_path, capsys):
    assert main(["--load", str(tmp_path / "none.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--load", str(tmp_path / "none.npz")])


def test_the_summed_choice_weighs_each_backtest_by_its_own_scale():
    n = len(FACTORS)
    back = np.ones((2, n))
    back[:, 1] = 0.99  # the pair's backtest: factor 1 by a hair
    back2 = np.full((2, n), 1e-4)
    back2[:, 3] = 0.5e-4  # the earlier one: small errors, a clear preference for factor 3
    assert (summed_choice(back, back2) == 3).all()


def test_a_missing_source_is_refused_in_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]
