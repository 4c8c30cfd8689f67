"""Finding and loading the model's weights, with a fallback to the motion estimate.

The default weights are ``vidiff.safetensors`` in the ``weights/`` folder of the source tree,
which an install carries as the package data ``vidiff.default_weights`` (so a non-editable
``pip install .`` finds them too), or the file named by the ``VIDIFF_WEIGHTS`` environment
variable (``VIDIFF_WEIGHTS=none``: no default weights, the motion estimate alone). A weights file holds a refiner (the learned mean), a diffusion model, or both
(:mod:`vidiff.model.weights`).

What runs: the motion estimate, then the refiner when the weights hold one (``refine=False``
skips it), then the diffusion model for ``steps`` sampler steps when the weights hold one
(``steps=0`` skips it). ``ensemble`` names the symmetries of the pair the refiner's result is
averaged over (:class:`vidiff.model.refined_motion.RefinedMotion`; ``None``:
:data:`DEFAULT_ENSEMBLE`, and :data:`DEFAULT_GENERATE_ENSEMBLE` for generation).
``max_memory`` bounds what one model call may hold (bytes; ``None``: the device's default,
:func:`vidiff.model.memory.default_budget`): big frames are then run in overlapping tiles
(:mod:`vidiff.model.tiling`). An explicit ``--weights PATH`` that cannot be loaded is an
error; default weights that are missing or damaged only cost the learned parts: a warning, and
the motion estimate is used.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from ..errors import OptionError, WeightsError

DEFAULT_WEIGHTS_NAME = "vidiff.safetensors"
DEFAULT_STEPS = 4
DEFAULT_ENSEMBLE: tuple[str, ...] = ()  # test-time averaging of the refiner: off by default
# vidiff generate averages its predictor over the mirror: +0.03 dB and SSIM +0.0009 on
# tools/bench_generate.py (shipped predictor qh3), for two predictor passes per frame (8 frames
# at 720p from 3 seeds: 38.1 s against 23.2 s, AMD EPYC, 2 threads; weights/README.md)
DEFAULT_GENERATE_ENSEMBLE: tuple[str, ...] = ("mirror",)


def default_weights_path() -> Path | None:
    """The default weights file, or ``None`` when there is none."""
    env = os.environ.get("VIDIFF_WEIGHTS")
    if env and env.strip().lower() == "none":
        return None
    if env:
        return Path(env)
    try:
        candidate = Path(str(resources.files("vidiff.default_weights") / DEFAULT_WEIGHTS_NAME))
    except (ModuleNotFoundError, TypeError):  # a copy of the package without its data
        candidate = Path(__file__).resolve().parents[2] / "weights" / DEFAULT_WEIGHTS_NAME
    return candidate if candidate.is_file() else None


@dataclass(frozen=True)
class Model:
    """What a run uses: the refiner (or None), the denoiser (or None) and diffusion steps."""

    refiner: object | None = None
    denoiser: object | None = None
    steps: int = 0
    weights: Path | None = None
    max_memory: object | None = None  # vidiff.model.memory.Budget: all concurrent calls together
    predictor: object | None = None  # the refiner trained past the last known frame (generate)
    ensemble: tuple[str, ...] = ()  # symmetries the refiner's result is averaged over

    def call_budget(self, concurrent: int = 1):
        """The :class:`~vidiff.model.memory.Budget` of one model call when ``concurrent`` calls
        run at once (``None``: no limit)."""
        if self.max_memory is None:
            return None
        return self.max_memory.share(concurrent)

    def motion(self, base=None, budget: int | None = None):
        """The motion estimator to use: ``base`` (FlowMotion by default), refined if we can;
        ``budget``: bytes for one refiner call (default: :meth:`call_budget`)."""
        from ..motion import FlowMotion

        base = base if base is not None else FlowMotion()
        if self.refiner is None and self.predictor is None:
            return base
        from ..model.refined_motion import RefinedMotion

        budget = budget if budget is not None else self.call_budget()
        return RefinedMotion(self.refiner, base, ensemble=self.ensemble, max_memory=budget,
                             predictor=self.predictor)

    @property
    def description(self) -> str:
        parts = ["motion estimate"]
        learned = [n for n, net in (("refiner", self.refiner), ("predictor", self.predictor))
                   if net is not None]
        if learned and self.ensemble:  # RefinedMotion averages both networks alike
            learned[-1] += f" (averaged: {', '.join(self.ensemble)})"
        parts += learned
        if self.denoiser is not None and self.steps:
            parts.append(f"diffusion, {self.steps} steps")
        return " + ".join(parts)


def resolve_ensemble(ensemble) -> tuple[str, ...]:
    """``ensemble`` checked, as a tuple of symmetry names (``None``: :data:`DEFAULT_ENSEMBLE`)."""
    from ..model.refined_motion import check_ensemble

    try:
        return check_ensemble(DEFAULT_ENSEMBLE if ensemble is None else ensemble)
    except OptionError as exc:
        raise OptionError(f"--{exc}") from None


def load_denoiser(weights: str | Path | None, device: torch.device):
    """The diffusion model of ``weights`` (default weights when ``None``), or ``None`` when the
    default weights are missing, damaged or hold none (explicit files raise WeightsError)."""
    from ..model import load_weights, read_parts

    if weights is not None:
        return load_weights(Path(weights), device=device).eval()
    path = default_weights_path()
    if path is None:
        return None
    try:
        if "denoiser" not in read_parts(path):
            return None
        return load_weights(path, device=device).eval()
    except WeightsError as exc:
        warnings.warn(f"{exc}; using the motion estimate alone", stacklevel=2)
        return None


def resolve_model(
    steps, weights, device: torch.device, sampler=None, seed=0, refine=None, max_memory=None,
    ensemble=None,
) -> Model:
    """Check the model options and load what they ask for.

    ``max_memory``: bytes the model may hold (``None``: the device's default budget).
    ``steps=None``: :data:`DEFAULT_STEPS` when the weights hold a diffusion model, else 0.
    ``refine=None``: use the refiner (and the predictor) when the weights hold one; ``True``
    requires a refiner; ``False`` uses neither.
    ``ensemble``: symmetry names for :class:`~vidiff.model.refined_motion.RefinedMotion`
    (``None``: :data:`DEFAULT_ENSEMBLE`).
    Explicit steps or ``refine=True`` without weights that hold that part are errors.
    """
    from ..model import SAMPLERS, load_refiner, load_weights, read_parts
    from ..model.memory import Budget, check_budget, default_budget

    if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 0):
        raise OptionError(f"--steps must be a whole number >= 0, got {steps!r}")
    if sampler is not None and sampler not in SAMPLERS:
        raise OptionError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if isinstance(seed, bool) or int(seed) != seed:
        raise OptionError(f"--seed must be a whole number, got {seed!r}")
    if refine not in (None, True, False):
        raise OptionError(f"refine must be None, True or False, got {refine!r}")
    ensemble = resolve_ensemble(ensemble)
    budget = check_budget(max_memory, "--max-memory")
    if budget is None:
        budget = Budget(default_budget(device), strict=False)
    elif not isinstance(budget, Budget):
        budget = Budget(budget)
    wanted = steps != 0 or refine is not False
    path = Path(weights) if weights is not None else default_weights_path()
    parts: tuple[str, ...] = ()
    if path is not None and wanted:
        try:
            parts = read_parts(path)
        except WeightsError as exc:
            if weights is not None:
                raise
            warnings.warn(f"{exc}; using the motion estimate alone", stacklevel=2)
            path = None
    if steps is None:
        steps = DEFAULT_STEPS if "denoiser" in parts else 0
    if steps > 0 and "denoiser" not in parts:
        where = f"{path} holds none" if path is not None else "no weights were found"
        raise OptionError(
            f"--steps {steps} needs a diffusion model and {where}: pass --weights PATH "
            "or use --steps 0"
        )
    if refine and "refiner" not in parts:
        where = f"{path} holds none" if path is not None else "no weights were found"
        raise OptionError(f"refine needs a refiner and {where}: pass --weights PATH")
    try:
        refiner = load_refiner(path, device=device) if refine is not False and "refiner" in parts else None
        predictor = (load_refiner(path, device=device, part="predictor")
                     if refine is not False and "predictor" in parts else None)
        denoiser = load_weights(path, device=device) if steps > 0 else None
    except WeightsError as exc:
        if weights is not None:
            raise
        warnings.warn(f"{exc}; using the motion estimate alone", stacklevel=2)
        return Model(max_memory=budget)
    return Model(
        refiner, denoiser, int(steps), path if (refiner or denoiser or predictor) else None,
        max_memory=budget, predictor=predictor, ensemble=ensemble,
    )
