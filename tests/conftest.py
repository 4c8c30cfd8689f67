"""Shared test settings.

Tiny models and small frames run fastest on one torch thread; more threads only add
overhead (and thrash when the machine is busy). Subprocess tests are unaffected.
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def no_default_weights(monkeypatch):
    """The video tests run the motion estimate alone, whatever weights ship (their subprocesses
    inherit this); tests of the weights set ``VIDIFF_WEIGHTS`` themselves."""
    monkeypatch.setenv("VIDIFF_WEIGHTS", "none")
