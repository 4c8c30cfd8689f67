"""Training configs: the shipped TOML files load, unknown keys and bad values are errors naming them."""

from pathlib import Path

import pytest

from vidiff.errors import OptionError
from vidiff.model import ModelConfig
from vidiff.train import TrainRun, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("name", ["tiny", "default"])
def test_shipped_configs_load_and_round_trip(name):
    run = load_config(CONFIGS / f"{name}.toml")
    assert run.model == getattr(ModelConfig, name)()
    assert TrainRun.from_dict(run.to_dict()) == run


def test_tiny_config_is_cpu_sized():
    run = load_config(CONFIGS / "tiny.toml")
    assert run.data.crop_size <= 64 and run.train.num_workers == 0


def write(tmp_path, text):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, named",
    [
        ('[model]\npreset = "tiny"\n[train]\nlearning_rate = 1e-3\n', "learning_rate"),
        ('[model]\npreset = "tiny"\n[data]\ncrop = 64\n', "crop"),
        ('[model]\npreset = "tiny"\nwidth = 3\n', "width"),
        ('[model]\npreset = "tiny"\n[optim]\nlr = 1\n', "optim"),
    ],
)
def test_unknown_key_is_an_error_naming_it(tmp_path, text, named):
    with pytest.raises(OptionError, match=named):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    "text, named",
    [
        ('[model]\npreset = "tiny"\n[train]\nprecision = "fp8"\n', "precision"),
        ('[model]\npreset = "tiny"\n[train]\nbatch_size = "8"\n', "batch_size"),
        ('[model]\npreset = "tiny"\n[train]\nbetas = [0.9]\n', "betas"),
        ('[model]\npreset = "tiny"\n[data]\nwindow = 2\n', "window"),
        ('[model]\npreset = "tiny"\n[data]\ncrop_size = 256\nframe_size = 128\n', "crop_size"),
        ('[model]\npreset = "huge"\n', "preset"),
    ],
)
def test_bad_values_are_errors_naming_the_key(tmp_path, text, named):
    with pytest.raises(OptionError, match=named):
        load_config(write(tmp_path, text))


def test_defaults_fill_missing_sections_and_keys(tmp_path):
    run = load_config(write(tmp_path, '[model]\npreset = "tiny"\nemb_dim = 16\n[train]\nlr = 1\n'))
    assert run.model.emb_dim == 16 and run.model.channels == ModelConfig.tiny().channels
    assert run.train.lr == 1.0 and isinstance(run.train.lr, float)
    assert run.data.window == 5


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(OptionError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(OptionError, match="not valid TOML"):
        load_config(write(tmp_path, "[train\n"))
