"""Synthetic triplets with exact ground truth: still photographs moved by known motion.

Each sample is a small scene: a background photograph seen by a camera that pans, rotates and
zooms, and 0-3 foreground layers (patches of other photographs cut out by random anti-aliased
shapes) moving on their own and occluding what is behind them, as synthetic flow data sets
(FlyingChairs, FlyingThings) are made. Every parameter moves linearly in time, so the frame at any
time ``t`` is rendered exactly, with no codec noise. The flows stored with it are *not* the true
motion: they are what vidiff's motion step (DIS) estimates from the two rendered inputs, because
the refiner learns to correct exactly that. The true motion is stored beside them
(``true_flows.npy``: :meth:`Scene.flows_to`, the flows from time ``t`` to each input where the
point is visible), so that the refiner's flow corrections can be taught directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vidiff.errors import InputError

from .triplets import TripletWriter, estimate_from_flows, full_flow_candidates

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def load_photos(folders: Iterable[Path], max_side: int = 1280, min_side: int = 256) -> list:
    """RGB uint8 photographs found under ``folders`` (recursively), longest side <= max_side."""
    photos: list[tuple[str, np.ndarray]] = []
    for folder in folders:
        chosen: dict[Path, Path] = {}
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix.lower() not in PHOTO_SUFFIXES or not path.is_file():
                continue
            # KDE-style wallpapers hold one picture at several sizes: keep the largest file
            key = path.parents[2] if path.parent.parts[-2:] == ("contents", "images") else path
            if key not in chosen or path.stat().st_size > chosen[key].stat().st_size:
                chosen[key] = path
        for path in sorted(chosen.values()):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None or min(image.shape[:2]) < min_side:
                continue
            scale = max_side / max(image.shape[:2])
            if scale < 1:
                size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            photos.append((str(path.relative_to(folder)), cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    if not photos:
        raise InputError(f"no photographs (jpg/png/webp, >= {min_side} px) under the given folders")
    return photos


@dataclass
class Motion:
    """Linear-in-time similarity motion: at time tau the output pixel p samples the source at
    ``centre + tau * velocity + zoom(tau) * R(tau * spin) (p - c_out)``."""

    centre: tuple[float, float]
    velocity: tuple[float, float]
    zoom: float
    zoom_rate: float
    spin: float

    def matrix(self, tau: float, out_size: int) -> np.ndarray:
        z = self.zoom * (1.0 + tau * self.zoom_rate)
        a = tau * self.spin
        c, s = math.cos(a) * z, math.sin(a) * z
        half = (out_size - 1) / 2.0
        cx = self.centre[0] + tau * self.velocity[0]
        cy = self.centre[1] + tau * self.velocity[1]
        return np.array([[c, -s, cx - c * half + s * half], [s, c, cy - s * half - c * half]],
                        dtype=np.float64)


def _speed(rng: np.random.Generator) -> float:
    """Displacement over the whole interval, pixels: mostly small, sometimes large."""
    band = rng.choice(3, p=[0.45, 0.4, 0.15])
    lo, hi = [(0.0, 6.0), (6.0, 20.0), (20.0, 40.0)][band]
    return float(rng.uniform(lo, hi))


def _motion(rng, src_shape, size: int, zoom: float, margin: float) -> Motion:
    h, w = src_shape[:2]
    speed, angle = _speed(rng), rng.uniform(0, 2 * math.pi)
    vel = (speed * math.cos(angle) * zoom, speed * math.sin(angle) * zoom)
    reach = size * zoom * margin
    cx = rng.uniform(min(reach, w / 2), max(w - reach, w / 2))
    cy = rng.uniform(min(reach, h / 2), max(h - reach, h / 2))
    spin = rng.normal(0, 0.03) if rng.random() < 0.5 else 0.0
    zoom_rate = rng.normal(0, 0.04) if rng.random() < 0.4 else 0.0
    return Motion((cx, cy), vel, zoom, zoom_rate, spin)


def _shape_mask(rng: np.random.Generator, size: int) -> np.ndarray:
    """A float32 ``size x size`` anti-aliased random shape (ellipse or polygon) in [0, 1]."""
    big = size * 4
    mask = np.zeros((big, big), np.uint8)
    centre = (big // 2, big // 2)
    if rng.random() < 0.5:
        axes = (int(big * rng.uniform(0.2, 0.48)), int(big * rng.uniform(0.15, 0.48)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    else:
        n = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = big * rng.uniform(0.2, 0.48, n)
        pts = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1)
        cv2.fillPoly(mask, [pts.astype(np.int32)], 255)
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _render(src: np.ndarray, motion: Motion, tau: float, size: int) -> np.ndarray:
    return cv2.warpAffine(src, motion.matrix(tau, size), (size, size),
                          flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT101)


def random_layer(rng: np.random.Generator, src: np.ndarray, size: int):
    """A foreground object for a ``size`` px scene: a patch of ``src`` (``h w 3``) cut out by a
    random shape, with its own linear motion (mostly a translation, sometimes spin and zoom);
    ``(texture, mask, Motion)`` for :func:`draw_layer`."""
    obj = int(rng.integers(size // 6, size // 2 + 1))
    obj = max(4, min(obj, src.shape[0] - 1, src.shape[1] - 1))
    y, x = rng.integers(0, src.shape[0] - obj), rng.integers(0, src.shape[1] - obj)
    tex = np.ascontiguousarray(src[y : y + obj, x : x + obj])
    mask = _shape_mask(rng, obj)
    # the object's centre crosses the output from half + pos - d/2 to half + pos + d/2, so
    # the texture point under output pixel p is p - position(tau) + obj/2
    speed, angle = _speed(rng) * 1.3, rng.uniform(0, 2 * math.pi)
    d = np.array([math.cos(angle), math.sin(angle)]) * speed
    pos = rng.uniform(-0.3 * size, 0.3 * size, 2)
    centre = obj / 2 - pos + d / 2
    spin = float(rng.normal(0, 0.1)) if rng.random() < 0.4 else 0.0
    zoom_rate = float(rng.normal(0, 0.05)) if rng.random() < 0.3 else 0.0
    return tex, mask, Motion((centre[0], centre[1]), (-d[0], -d[1]), 1.0, zoom_rate, spin)


def draw_layer(frame: np.ndarray, layer, tau: float) -> np.ndarray:
    """``frame`` (float32 ``h w 3``) with a :func:`random_layer` object drawn over it where the
    object is at time ``tau``."""
    tex, mask, m = layer
    h, w = frame.shape[:2]
    mat = m.matrix(tau, min(h, w))
    drawn = cv2.warpAffine(tex, mat, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    alpha = layer_alpha(layer, tau, (h, w))[..., None]
    return frame * (1 - alpha) + drawn * alpha


def layer_alpha(layer, tau: float, shape: tuple[int, int]) -> np.ndarray:
    """``h w`` float32: how much of each pixel a :func:`random_layer` object covers at ``tau`` in
    a frame of ``shape``, as :func:`draw_layer` draws it."""
    _tex, mask, m = layer
    h, w = shape
    return cv2.warpAffine(mask, m.matrix(tau, min(h, w)), (w, h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@dataclass
class Scene:
    """A background photograph seen through ``motion`` and ``layers`` (:func:`random_layer`)
    drawn over it in order, the last on top; every frame is ``size`` px square."""

    background: np.ndarray  # h w 3 uint8
    motion: Motion
    layers: list
    size: int

    def render(self, tau: float) -> np.ndarray:
        """The frame at time ``tau`` (``size size 3`` uint8)."""
        frame = _render(self.background, self.motion, tau, self.size).astype(np.float32)
        for layer in self.layers:
            frame = draw_layer(frame, layer, tau)
        return np.clip(frame + 0.5, 0, 255).astype(np.uint8)

    def flows_to(self, t: float, sure: float = 0.9) -> np.ndarray:
        """``4 size size`` float32: the true flows from time ``t`` to frame 0 and to frame 1
        (dx, dy in pixels, as :func:`vidiff.motion.flows_to_time` lays them out), NaN where the
        point seen at ``t`` is hidden in that frame or outside it, or where no surface covers
        at least ``sure`` of the pixel (the soft edges of the layers)."""
        return true_flows(self.motion, self.layers, t, (self.size, self.size), sure)


def _affine3(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _coverage(layers: list, tau: float, shape: tuple[int, int]) -> np.ndarray:
    """``k h w`` float32: how much of each pixel each surface (the background, then each layer)
    covers in the frame at ``tau``, as :func:`draw_layer` composites them."""
    cover = [np.ones(shape, np.float32)]
    for layer in layers:
        alpha = layer_alpha(layer, tau, shape)
        cover = [c * (1 - alpha) for c in cover] + [alpha]
    return np.stack(cover)


def true_flows(motion: Motion | None, layers: list, t: float, shape: tuple[int, int],
               sure: float = 0.9) -> np.ndarray:
    """``4 h w`` float32: :meth:`Scene.flows_to` of a background moving by ``motion`` (``None``:
    still) under ``layers``, in frames of ``shape`` (``h, w``; the matrices of a square frame
    of the short side, as :func:`draw_layer` makes them). A surface's point under pixel ``p``
    at time ``t`` is at ``A(tau)^-1 A(t) p`` at time ``tau`` (``A``: its :meth:`Motion.matrix`);
    it is known there when that surface covers at least ``sure`` of both pixels and the point
    is inside the frame."""
    h, w = shape
    size = min(h, w)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    points = np.stack([xs, ys, np.ones_like(xs)]).reshape(3, -1)
    at_t = _coverage(layers, t, shape)
    owner, covered = at_t.argmax(0), at_t.max(0) >= sure
    out = np.full((4, h, w), np.nan, np.float32)
    for side, tau in enumerate((0.0, 1.0)):
        cover = _coverage(layers, tau, shape)
        for k, m in enumerate([motion] + [m for _, _, m in layers]):
            here = covered & (owner == k)
            if not here.any():
                continue
            if m is None:  # the still background
                q = np.stack([xs, ys]).astype(np.float32)
            else:
                move = np.linalg.inv(_affine3(m.matrix(tau, size))) @ _affine3(m.matrix(t, size))
                q = (move @ points)[:2].reshape(2, h, w).astype(np.float32)
            seen = cv2.remap(cover[k], q[0], q[1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= sure
            inside = (q[0] >= 0) & (q[0] <= w - 1) & (q[1] >= 0) & (q[1] <= h - 1)
            keep = here & seen & inside
            flow = q - np.stack([xs, ys]).astype(np.float32)
            out[2 * side : 2 * side + 2][:, keep] = flow[:, keep]
    return out


def random_scene(photos: list, rng: np.random.Generator, size: int) -> tuple[Scene, list[str]]:
    """One random scene of ``size`` px from ``photos`` and the names of the photographs used."""
    names = []
    i = int(rng.integers(len(photos)))
    name, bg = photos[i]
    names.append(name)
    zoom = float(rng.uniform(0.6, 2.5))
    if zoom > 1.2:  # area-downscale first so that sampling does not alias
        bg = cv2.resize(bg, None, fx=1 / zoom, fy=1 / zoom, interpolation=cv2.INTER_AREA)
        zoom = 1.0
    bg_motion = _motion(rng, bg.shape, size, zoom, 0.8)
    layers = []
    for _ in range(int(rng.choice(4, p=[0.2, 0.35, 0.3, 0.15]))):
        j = int(rng.integers(len(photos)))
        names.append(photos[j][0])
        layers.append(random_layer(rng, photos[j][1], size))
    return Scene(bg, bg_motion, layers, size), names


def render_scene(photos: list, rng: np.random.Generator, size: int, t: float):
    """Frames at times 0, t, 1 (uint8 ``3 size size 3``) of one random scene; its source names."""
    scene, names = random_scene(photos, rng, size)
    return np.stack([scene.render(tau) for tau in (0.0, t, 1.0)]), names


def make_photo_triplets(
    folders: list[Path], out: Path, *, samples: int = 6000, crop: int = 128,
    holdout_every: int = 10, seed: int = 0, min_motion: float = 1.0,
    log: Callable[[str], None] = print,
) -> Path:
    """A triplet pack of ``samples`` synthetic scenes (see module docstring)."""
    from vidiff.motion import FlowMotion

    photos = load_photos(folders)
    log(f"photos: {len(photos)} images")
    rng = np.random.default_rng(seed)
    motion = FlowMotion()
    made = 0
    settings = {"kind": "photos", "photos": len(photos), "seed": seed}
    with TripletWriter(out, crop, settings) as writer:
        while made < samples:
            t = 0.5 if rng.random() < 0.6 else float(rng.uniform(0.1, 0.9))
            scene, names = random_scene(photos, rng, crop)
            frames = np.stack([scene.render(tau) for tau in (0.0, t, 1.0)])
            diff = np.abs(frames[0].astype(np.int16) - frames[2].astype(np.int16)).mean()
            if diff < min_motion:
                continue
            flows, alt = full_flow_candidates(motion, frames[0], frames[2])
            writer.add(names[0], frames, flows, t, holdout_every > 0 and made % holdout_every == 0,
                       true_flows=scene.flows_to(t), alt_flows=alt)
            made += 1
            if made % 1000 == 0:
                log(f"photos: {made} samples")
        return writer.close()


__all__ = ["Scene", "load_photos", "make_photo_triplets", "random_scene", "render_scene",
           "true_flows", "estimate_from_flows"]
