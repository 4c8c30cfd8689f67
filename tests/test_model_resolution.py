"""Which learned parts run: the refiner when the weights hold one, diffusion when asked and held."""

import numpy as np
import pytest
import torch
from media import pattern_frame

import vidiff
from vidiff.errors import OptionError
from vidiff.model import Denoiser, ModelConfig, Refiner, RefinerConfig, save_weights
from vidiff.pipelines.weights import resolve_model

SIZE = (64, 48)
CPU = torch.device("cpu")


@pytest.fixture
def refiner_file(tmp_path):
    refiner = Refiner(RefinerConfig.tiny())
    with torch.no_grad():
        refiner.head.bias[5:8] = 0.3  # a visible colour shift: +0.03 on every channel
    return save_weights(tmp_path / "r.safetensors", None, refiner=refiner)


def pair():
    return pattern_frame(0, SIZE, (1.0, 0.5)), pattern_frame(1, SIZE, (1.0, 0.5))


def test_refiner_runs_when_the_weights_hold_one(refiner_file):
    a, b = pair()
    plain, = vidiff.interpolate_pair(a, b, steps=0, refine=False, weights=refiner_file, device="cpu")
    refined, = vidiff.interpolate_pair(a, b, weights=refiner_file, device="cpu")
    shift = refined.astype(int) - plain.astype(int)
    assert 5 <= np.median(shift) <= 10  # 0.03 * 255 = 7.65, rounding and clamping aside


def test_default_weights_are_found(monkeypatch, refiner_file):
    monkeypatch.setenv("VIDIFF_WEIGHTS", str(refiner_file))
    model = resolve_model(None, None, CPU)
    assert model.refiner is not None and model.denoiser is None and model.steps == 0
    assert model.description == "motion estimate + refiner"
    assert resolve_model(None, None, CPU, refine=False).refiner is None
    monkeypatch.setenv("VIDIFF_WEIGHTS", "none")  # a user's way to turn the defaults off
    assert resolve_model(None, None, CPU).refiner is None


def test_asking_for_a_part_the_weights_lack_is_an_error(refiner_file, tmp_path):
    with pytest.raises(OptionError, match="needs a diffusion model and .* holds none"):
        resolve_model(2, refiner_file, CPU)
    denoiser_file = save_weights(tmp_path / "d.safetensors", Denoiser(ModelConfig.tiny()))
    with pytest.raises(OptionError, match="needs a refiner"):
        resolve_model(None, denoiser_file, CPU, refine=True)
    model = resolve_model(None, denoiser_file, CPU)
    assert model.refiner is None and model.denoiser is not None and model.steps == 4


def test_both_parts(tmp_path):
    path = save_weights(tmp_path / "b.safetensors", Denoiser(ModelConfig.tiny()),
                        refiner=Refiner(RefinerConfig.tiny()))
    model = resolve_model(None, path, CPU)
    assert model.refiner is not None and model.denoiser is not None and model.steps == 4
    assert resolve_model(0, path, CPU).denoiser is None


def test_damaged_default_weights_fall_back_with_a_warning(monkeypatch, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors at all" * 4)
    monkeypatch.setenv("VIDIFF_WEIGHTS", str(bad))
    with pytest.warns(UserWarning, match="motion estimate alone"):
        model = resolve_model(None, None, CPU)
    assert model.refiner is None and model.denoiser is None


def test_cli_says_what_ran(tmp_path, refiner_file, capsys):
    from media import write_clip

    from vidiff.cli import main

    clip = write_clip(tmp_path / "in.mp4", [pattern_frame(i, SIZE, (1.0, 0.5)) for i in range(4)],
                      fps=12)
    out = tmp_path / "out.mp4"
    assert main(["interpolate", str(clip), "-o", str(out), "--multi", "2", "--weights",
                 str(refiner_file)]) == 0
    assert "(refined)" in capsys.readouterr().err
    assert main(["interpolate", str(clip), "-o", str(out), "--multi", "2", "--weights",
                 str(refiner_file), "--no-refine", "--overwrite"]) == 0
    assert "motion estimate only" in capsys.readouterr().err


def test_the_ensemble_option_reaches_the_refiner(tmp_path):
    from vidiff.cli.common import ENSEMBLE_DEFAULT_HELP
    from vidiff.model import load_refiner
    from vidiff.model.refined_motion import RefinedMotion
    from vidiff.motion import FlowMotion
    from vidiff.pipelines.weights import DEFAULT_ENSEMBLE

    refiner = Refiner(RefinerConfig.tiny())
    torch.manual_seed(0)
    with torch.no_grad():  # a refiner that is not symmetric, so that averaging shows
        for param in refiner.parameters():
            param.add_(0.05 * torch.randn_like(param))
    path = save_weights(tmp_path / "r.safetensors", None, refiner=refiner)
    model = resolve_model(None, path, CPU, ensemble=("reverse", "mirror"))
    assert model.ensemble == ("mirror", "reverse")  # in a fixed order
    assert model.description == "motion estimate + refiner (averaged: mirror, reverse)"
    assert resolve_model(None, path, CPU).ensemble == DEFAULT_ENSEMBLE
    assert ENSEMBLE_DEFAULT_HELP == (",".join(DEFAULT_ENSEMBLE) or "none")
    with pytest.raises(OptionError, match="--ensemble: unknown 'spin'"):
        resolve_model(None, path, CPU, ensemble=("mirror", "spin"))

    a, b = pair()
    mid, = vidiff.interpolate_pair(a, b, weights=path, device="cpu", ensemble=("mirror",))
    plain, = vidiff.interpolate_pair(a, b, weights=path, device="cpu", ensemble=())
    to = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    expected = RefinedMotion(load_refiner(path), FlowMotion(), ensemble=("mirror",)).estimate(
        to(a), to(b), [0.5])[0, :, 0].permute(1, 2, 0).mul(255).numpy()
    assert np.abs(mid - expected).max() <= 1.0
    assert np.abs(mid.astype(int) - plain.astype(int)).max() > 0


def test_the_cli_takes_an_ensemble_and_refuses_an_unknown_one(tmp_path, refiner_file, capsys):
    from media import write_clip

    from vidiff.cli import main

    clip = write_clip(tmp_path / "in.mp4", [pattern_frame(i, SIZE, (1.0, 0.5)) for i in range(4)],
                      fps=12)
    out = tmp_path / "out.mp4"
    assert main(["interpolate", str(clip), "-o", str(out), "--multi", "2", "--weights",
                 str(refiner_file), "--ensemble", "mirror,reverse"]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["interpolate", str(clip), "-o", str(tmp_path / "x.mp4"), "--multi", "2",
                 "--ensemble", "mirror,spin"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ensemble: unknown 'spin'" in err
    assert not (tmp_path / "x.mp4").exists()
    with pytest.raises(SystemExit) as exc:
        main(["interpolate", str(clip), "--multi", "2", "--ensemble", ","])
    assert exc.value.code == 2


def test_generate_averages_its_predictor_over_the_mirror_by_default(tmp_path, capsys):
    from vidiff.cli import main
    from vidiff.pipelines.generate import make_generator
    from vidiff.pipelines.weights import DEFAULT_GENERATE_ENSEMBLE

    path = save_weights(tmp_path / "rp.safetensors", None, refiner=Refiner(RefinerConfig.tiny()),
                        predictor=Refiner(RefinerConfig.tiny()))
    assert DEFAULT_GENERATE_ENSEMBLE == ("mirror",)
    assert make_generator(weights=path, steps=0).motion.ensemble == ("mirror",)
    assert make_generator(weights=path, steps=0, ensemble=()).motion.ensemble == ()
    assert make_generator(weights=path, steps=0, ensemble=("flip",)).motion.ensemble == ("flip",)
    model = resolve_model(None, path, CPU, ensemble=DEFAULT_GENERATE_ENSEMBLE)
    assert model.description == "motion estimate + refiner + predictor (averaged: mirror)"
    assert resolve_model(None, path, CPU).ensemble == ()  # interpolation: off by default
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert "(default: mirror)" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        main(["interpolate", "--help"])
    assert "(default: none)" in " ".join(capsys.readouterr().out.split())
