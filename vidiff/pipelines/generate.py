"""Generation pipeline: continue seed frames with new frames (the model's prediction mask).

Conventions: seed frames arrive and generated frames leave as uint8 ``h w 3`` RGB arrays; inside,
windows are float tensors ``1 3 t h w`` in [0, 1] with the known frames first, then the unknown
ones, and frame times as laid out by :func:`vidiff.pipelines.generate_plan.window_times`. Seeds
are taken as consecutive frames one frame interval apart, and generated frames continue at that
interval. Known frames are always the uint8 frames already made (what the output holds), so a
clip does not depend on how it is streamed.

Seeds that hold their pictures in a regular cadence (animation on twos, a frame repeated every
third) are continued as :mod:`.cadence` says: the distinct pictures are continued one picture
apart and each new one is held as the cadence goes on. The more seeds, the longer a cadence
can be seen: :meth:`ClipGenerator.stream` also takes frames from ``before`` the seeds (``vidiff
generate`` gives it a video's frames before its last ``--seed-frames``, up to
:data:`.cadence.LOOKBACK` in all), which serve to find a cadence and, when there is one, as
pictures too; without one, the seeds alone are continued.

mu, the motion estimate the model refines, comes from :func:`vidiff.model.build_cond`: past the
last known frame it is extrapolated from the last two (held when there is one seed); between
known frames (hierarchical infill) it is interpolated. Seeds that end across a scene cut (a video
whose last frames open a new shot, a title card) continue from the seeds after the last cut only:
a flow between two shots is no motion (the seeds before it are still part of the output). With
``steps = 0`` (no weights) the output is mu alone, and every sample is the same.

Randomness: each window's noise comes from its own ``torch.Generator`` seeded from ``(seed,
sample, window index)``, so a sample is reproduced exactly by its seed and index, whatever the
number of samples or how the caller interleaves them. The pipeline never opens files.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from einops import rearrange

from ..device import resolve_device
from ..errors import OptionError
from ..motion import FlowMotion, FlowMotionConfig, MotionEstimator
from ..scenes import SceneDetector, thumbnail
from .cadence import distinct, find_cadence, transition_holds
from .generate_plan import WindowConfig, WindowPlan, last_uses, plan_windows, window_times
from .interpolate import to_image, to_tensor
from .weights import DEFAULT_GENERATE_ENSEMBLE, resolve_model

# DIS alone: the second flow's choice (FlowMotionConfig.second_flow) is made for the pair's
# midpoint, and predictions past the pair scored lower with it (tools/bench_generate.py
# --second-flow farneback: motion extrapolation 30.21 dB / SSIM 0.8477 against 30.23 / 0.8481,
# the predictor's SSIM 0.8559 against 0.8563, which trained on DIS's flows).
PREDICTION_MOTION = FlowMotionConfig(second_flow="none")


def check_seeds(seeds) -> list[np.ndarray]:
    """Validate seed frames given to the Python API: one or more uint8 ``h w 3``, one size."""
    if isinstance(seeds, np.ndarray) and seeds.ndim == 3:
        seeds = [seeds]
    out = []
    for i, image in enumerate(seeds):
        arr = np.asarray(image)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise OptionError(
                f"seed {i} must be a uint8 array of shape (height, width, 3), "
                f"got {arr.dtype} {arr.shape}"
            )
        if arr.shape[0] < 2 or arr.shape[1] < 2:
            raise OptionError(f"seed {i} is too small: {arr.shape[1]}x{arr.shape[0]} pixels")
        if out and arr.shape != out[0].shape:
            raise OptionError(
                f"seed {i} is {arr.shape[1]}x{arr.shape[0]}, unlike seed 0 "
                f"({out[0].shape[1]}x{out[0].shape[0]}): seeds must share one size"
            )
        out.append(np.ascontiguousarray(arr))
    if not out:
        raise OptionError("no seed frames given: pass at least one uint8 (h, w, 3) frame")
    return out


def window_generator(seed: int, sample: int, window: int, device: torch.device) -> torch.Generator:
    """The noise generator of ``window`` of ``sample``: a well-mixed function of the three."""
    state = np.random.SeedSequence([int(seed) % 2**64, int(sample), int(window)])
    value = int(state.generate_state(1, np.uint64)[0]) % 2**63
    return torch.Generator(device=device).manual_seed(value)


class ClipGenerator:
    """Makes the frames that continue a few seed frames.

    ``denoiser`` is a :class:`vidiff.model.Denoiser` (``None``: the motion estimate alone);
    ``steps`` sampler steps refine each window (0 = mu only); ``sampler`` a key of
    :data:`vidiff.model.SAMPLERS`; ``window`` how longer clips are cut into model windows;
    ``detector`` finds scene cuts among the seeds (``SceneDetector(cut_threshold=None)``: never)
    and, with ``cadence``, held frames (:mod:`.cadence`; ``False``: every seed is a picture).
    """

    def __init__(
        self,
        *,
        motion: MotionEstimator | None = None,
        denoiser=None,
        steps: int = 0,
        sampler: str | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        window: WindowConfig | None = None,
        max_memory: int | None = None,
        detector: SceneDetector | None = None,
        cadence: bool = True,
    ):
        self.device = resolve_device(device)
        self.cadence = bool(cadence)
        self.detector = detector if detector is not None else SceneDetector()
        self.max_memory = max_memory  # bytes one window may hold (None: no limit)
        self.motion = motion if motion is not None else FlowMotion(PREDICTION_MOTION)
        self.denoiser = denoiser
        self.steps = int(steps) if denoiser is not None else 0
        self.sampler = sampler
        self.seed = int(seed)
        self.window = window if window is not None else WindowConfig()

    @property
    def stochastic(self) -> bool:
        """Whether different samples can differ (a model that refines mu)."""
        return self.steps > 0

    def plan(self, seeds: int, frames: int) -> list[WindowPlan]:
        return plan_windows(seeds, frames, self.window)

    def stream(
        self, seeds: Sequence[np.ndarray], frames: int, sample: int = 0,
        before: Sequence[np.ndarray] = (),
    ) -> Iterator[np.ndarray]:
        """Yield the ``frames`` new frames after ``seeds`` in order (not the seeds themselves).

        Holds only the frames later windows still need (the last few, or the keyframes). Seeds
        in a cadence of held frames continue it, seen with the frames ``before`` them (module
        docstring).
        """
        seeds = self.last_shot(check_seeds(seeds))
        context, holds = seeds, []
        if self.cadence:
            if before:  # the frames before the seeds, from the last cut on
                context = check_seeds(list(before) + seeds)
                cuts = self.detector.cuts([thumbnail(s) for s in context])
                context = context[cuts[-1] :] if cuts else context
            holds = transition_holds([thumbnail(s) for s in context], self.detector)
        found = find_cadence(holds)
        if found is None:
            yield from self._stream(seeds, frames, sample)
            return
        future = found.future(frames)
        pictures = self._stream([context[i] for i in distinct(holds)], future.count(False), sample)
        last = seeds[-1]
        for held in future:
            last = last.copy() if held else next(pictures)
            yield last

    def _stream(self, seeds: list[np.ndarray], frames: int, sample: int) -> Iterator[np.ndarray]:
        """:meth:`stream` of seeds taken as they are, one frame interval apart."""
        if frames == 0:
            return
        plans = self.plan(len(seeds), frames)
        needed_until = last_uses(plans)
        made: dict[int, np.ndarray] = dict(enumerate(seeds))
        next_out = len(seeds)
        for w, plan in enumerate(plans):
            images = self._run_window([made[t] for t in plan.known], plan, sample, w)
            made.update(zip(plan.unknown, images, strict=True))
            while next_out in made and next_out < len(seeds) + frames:
                yield made[next_out]
                next_out += 1
            for t in [t for t in made if t < next_out and needed_until.get(t, -1) <= w]:
                del made[t]

    def last_shot(self, seeds: list[np.ndarray]) -> list[np.ndarray]:
        """The seeds after the last scene cut among them (all of them when there is none)."""
        if len(seeds) < 2:
            return seeds
        cuts = self.detector.cuts([thumbnail(s) for s in seeds])
        if not cuts:
            return seeds
        first = cuts[-1]
        warnings.warn(
            f"a scene cut lies between seed {first - 1} and seed {first}: the new frames continue "
            f"from the {len(seeds) - first} seed(s) after it",
            stacklevel=3,
        )
        return seeds[first:]

    @torch.inference_mode()
    def _run_window(
        self, known: list[np.ndarray], plan: WindowPlan, sample: int, index: int
    ) -> list[np.ndarray]:
        from ..model import DEFAULT_SAMPLER, build_cond
        from ..model import sample as run_sampler
        from ..model.memory import plan_for

        known_times, unknown_times = window_times(plan)
        k, u = len(known), len(unknown_times)
        first = to_tensor(known[0], self.device)
        frames = torch.cat(
            [to_tensor(img, self.device) for img in known] + [torch.zeros_like(first)] * u
        )
        frames = rearrange(frames, "t c h w -> 1 c t h w")
        mask = torch.tensor([[True] * k + [False] * u], device=self.device)
        times = torch.tensor([known_times + unknown_times], device=self.device)
        cond = build_cond(frames, mask, times, self.motion)
        if self.steps > 0:
            out = run_sampler(
                self.denoiser,
                cond,
                steps=self.steps,
                sampler=self.sampler or DEFAULT_SAMPLER,
                generator=window_generator(self.seed, sample, index, self.device),
                plan=plan_for("denoiser", *frames.shape[-2:], frames.shape[2], self.max_memory),
            )
        else:
            out = cond.mu
        return [to_image(out[0, :, k + j]) for j in range(u)]


def make_generator(
    *,
    steps=None,
    weights=None,
    device="auto",
    seed=0,
    sampler=None,
    motion=None,
    window: WindowConfig | None = None,
    refine=None,
    max_memory=None,
    ensemble=None,
    detector: SceneDetector | None = None,
    cadence: bool = True,
) -> ClipGenerator:
    """A :class:`ClipGenerator` with weights resolved (:func:`.weights.resolve_model`):
    ``steps=None`` means the default (4 sampler steps when the weights hold a diffusion model,
    else 0); the refiner serves the in-between (infill) frames when the weights hold one.
    ``cadence``: continue a cadence of held frames (:mod:`.cadence`). ``ensemble=None``
    averages the predictor over :data:`.weights.DEFAULT_GENERATE_ENSEMBLE`."""
    dev = resolve_device(device)
    if ensemble is None:
        ensemble = DEFAULT_GENERATE_ENSEMBLE
    model = resolve_model(steps, weights, dev, sampler, seed, refine, max_memory, ensemble)
    return ClipGenerator(
        motion=model.motion(motion if motion is not None else FlowMotion(PREDICTION_MOTION)),
        denoiser=model.denoiser,
        steps=model.steps,
        sampler=sampler,
        seed=int(seed),
        device=dev,
        window=window,
        max_memory=model.call_budget(),
        detector=detector,
        cadence=cadence,
    )


def check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise OptionError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def warn_identical_samples(generator: ClipGenerator, samples: int) -> None:
    if samples > 1 and not generator.stochastic:
        warnings.warn(
            f"--samples {samples} with the motion estimate alone (--steps 0, or no diffusion "
            "weights): all samples are identical",
            stacklevel=3,
        )


def generate_frames(
    seeds,
    frames: int,
    *,
    samples: int = 1,
    steps: int | None = None,
    weights=None,
    sampler: str | None = None,
    seed: int = 0,
    device="auto",
    known: int = 3,
    unknown: int = 4,
    hierarchical: bool = False,
    stride: int | None = None,
    cadence: bool = True,
    generator: ClipGenerator | None = None,
) -> list[list[np.ndarray]]:
    """Continue ``seeds`` (uint8 ``h w 3`` frames, in order) with ``frames`` new frames.

    Returns ``samples`` clips, each the seeds followed by the new frames; sample ``i`` is the
    same for the same ``seed`` whatever ``samples`` is. ``steps=None`` uses the diffusion model
    with its default steps when weights are available, else the motion estimate alone (then all
    samples are identical, with a warning). Windows of at most ``known`` known and ``unknown``
    new frames; ``hierarchical`` makes keyframes every ``stride`` frames first, then fills in.
    ``cadence``: seeds that hold their pictures in a regular pattern (on twos, say) continue it
    (:mod:`.cadence`). ``generator`` overrides the model options (a ready :class:`ClipGenerator`).

    >>> clip, = generate_frames([frame0, frame1], frames=4)      # 2 seeds + 4 new frames
    """
    seeds = check_seeds(seeds)
    frames = check_count("frames", frames)
    samples = check_count("samples", samples)
    if generator is None:
        window = WindowConfig(
            known=known, unknown=unknown, hierarchical=hierarchical, stride=stride
        )
        generator = make_generator(
            steps=steps, weights=weights, device=device, seed=seed, sampler=sampler, window=window,
            cadence=cadence,
        )
    warn_identical_samples(generator, samples)
    clips = []
    for m in range(samples):
        if clips and not generator.stochastic:
            clips.append(list(clips[0]))
            continue
        clips.append(list(seeds) + list(generator.stream(seeds, frames, sample=m)))
    return clips
