"""What a training sample may be turned into: mirrored and reversed copies, video-like damage,
and still scenes.

A sample is ``frames`` (``3 h w 3`` uint8: input 0, target, input 1), ``flows`` (``4 h w``
float32: 0->1 and 1->0 in pixels, as the motion step computes them) and ``t``: in (0, 1) for
interpolation, above 1 for prediction (:mod:`.predict_pack`).
"""

from __future__ import annotations

import cv2
import numpy as np


def augment(frames: np.ndarray, flows: np.ndarray, t: float, rng: np.random.Generator,
            maps: np.ndarray | None = None):
    """Flips, transposition and time reversal of one sample (``3 h w 3``, ``4 h w``, t); a
    prediction sample (``t > 1``) is not reversed, since a predictor only ever looks ahead.

    ``flows`` may hold more pairs of flows laid out alike (``4k h w``: the side of frame0, dx dy,
    then the side of frame1), such as the true flows to ``t`` after the motion step's 0->1 and
    1->0: each pair is transformed as the first (time reversal swaps its sides).

    ``maps`` (``c h w``: plain per-pixel maps, such as a prediction pack's history input) are
    flipped and transposed with the frames, their values untouched; when given, they are
    returned fourth. The random draws are the same with or without them."""
    flows = flows.astype(np.float32)
    pairs = flows.shape[0] // 4
    if flows.shape[0] != 4 * pairs or not pairs:
        raise ValueError(f"augment: flows need 4k channels, got {flows.shape[0]}")
    plain = maps if maps is not None else np.zeros((0, *flows.shape[1:]), np.float32)
    if rng.random() < 0.5:  # horizontal flip: x -> -x
        frames, flows = frames[:, :, ::-1], flows[:, :, ::-1] * _signs(pairs, (-1, 1))
        plain = plain[:, :, ::-1]
    if rng.random() < 0.5:  # vertical flip
        frames, flows, plain = frames[:, ::-1], flows[:, ::-1] * _signs(pairs, (1, -1)), plain[:, ::-1]
    if rng.random() < 0.5:  # transpose: x <-> y
        frames, flows = frames.transpose(0, 2, 1, 3), flows.transpose(0, 2, 1)[_per_pair((1, 0, 3, 2), pairs)]
        plain = plain.transpose(0, 2, 1)
    if t < 1.0 and rng.random() < 0.5:  # time reversal (not of a prediction: t > 1 stays ahead)
        frames, flows, t = frames[::-1], flows[_per_pair((2, 3, 0, 1), pairs)], 1.0 - t
    out = np.ascontiguousarray(frames), np.ascontiguousarray(flows), t
    return out if maps is None else (*out, np.ascontiguousarray(plain))


def _per_pair(order: tuple[int, ...], pairs: int) -> np.ndarray:
    """The channel order that reorders each pair of flows by ``order``."""
    return np.concatenate([np.array(order) + 4 * k for k in range(pairs)])


def _signs(pairs: int, xy: tuple[int, int]) -> np.ndarray:
    """``4 pairs 1 1``: ``xy``'s sign for each flow's dx and dy."""
    return np.tile(np.array(xy * 2, np.float32), pairs)[:, None, None]


def degrade(frames: np.ndarray, rng: np.random.Generator, codec: float = 0.0) -> np.ndarray:
    """Video-like damage to a sample's three frames (``3 h w 3`` uint8), so that clean synthetic
    scenes also teach what compressed, soft or noisy footage looks like: a softer optics/scaler
    (one blur or down-and-up scale for all three), then per frame (a codec's noise differs from
    frame to frame) JPEG compression and sensor noise. The geometry, hence the flows, is
    unchanged; the target is damaged like the inputs, as a real video's frames are.

    A ``codec`` share of the compressed samples goes through a video codec instead of JPEG
    (:func:`video_codec`): one I frame and two predicted ones, as footage such as UCF101's
    (MPEG-4 Part 2) holds them. With ``codec = 0`` the random stream is the plain recipe's."""
    out = frames.copy()
    h, w = frames.shape[1:3]
    soft = rng.random()
    if soft < 0.3:
        sigma = float(rng.uniform(0.3, 1.2))
        out = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in out])
    elif soft < 0.6:
        f = float(rng.uniform(1.3, 2.5))
        small = (max(8, round(w / f)), max(8, round(h / f)))
        out = np.stack([cv2.resize(cv2.resize(x, small, interpolation=cv2.INTER_AREA), (w, h),
                                   interpolation=cv2.INTER_LINEAR) for x in out])
    if rng.random() < 0.6:
        if codec and rng.random() < codec:
            out = video_codec(out, int(rng.integers(2, 13)))
        else:
            out = _jpeg(out, int(rng.integers(30, 91)))
    if rng.random() < 0.3:
        out = _noisy(out, rng, float(rng.uniform(0.5, 3.0)))
    return out


def video_codec(frames: np.ndarray, quantiser: int) -> np.ndarray:
    """``frames`` (``n h w 3`` uint8, even ``h`` and ``w``) through an MPEG-4 Part 2 round trip
    in memory at a fixed ``quantiser`` (2: nearly clean, 12: coarse), in 4:2:0 colour: the first
    frame intra-coded, the others predicted from it, without B frames, so that the blocks,
    the mosquito noise and the quality that differs from the I frame to the predicted ones are
    a real codec's. The frames keep their order, shape and geometry."""
    import io

    import av

    n, h, w = frames.shape[:3]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        ctx = stream.codec_context
        ctx.qmin = ctx.qmax = quantiser
        ctx.gop_size, ctx.max_b_frames = max(n, 2), 0
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer) as container:
        out = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if len(out) != n:
        raise RuntimeError(f"video_codec: {n} frames in, {len(out)} out")
    return np.stack(out)


def still_scene(frame: np.ndarray, rng: np.random.Generator, motion=None, t: float | None = None,
                layer_source: np.ndarray | None = None, alternate: bool = False):
    """A sample in which nothing moves: three copies of ``frame`` (``h w 3`` uint8), each with its
    own codec and sensor noise as a real video's frames have, the flows that the motion step
    finds between the noisy inputs (small, nonzero), ``t`` (default: a random time inside) and
    the true flows to ``t`` (``4 h w``: zero, or the object's motion where it is seen, NaN where
    unknown, as :func:`vidiff.train.synthetic.true_flows` gives them).

    The triplet packs skip static crops (they hold no motion to learn), so without these a
    refiner never sees one and corrects still content too; there the motion estimate (the
    average of two noisy copies) is already the best guess, and at 45-55 dB every change
    costs dearly.

    With ``layer_source`` (``h w 3`` uint8) the scene is still only in part, as a shot from a
    fixed camera is: an object cut from it moves over the still background
    (:func:`vidiff.train.synthetic.random_layer`), drawn exactly where it is at each time, so
    the sample teaches both to leave still pixels alone and to correct the moving ones.

    With ``alternate`` the flows are ``8 h w``: the chosen pair, then the motion step's second
    flow's own pair (the chosen again when it has none), as a pack's ``alt_flows`` holds it."""
    from vidiff.motion import FlowMotion

    from .synthetic import draw_layer, random_layer, true_flows
    from .triplets import full_flow_candidates

    if t is None:
        t = float(rng.uniform(0.1, 0.9))
    layers = [] if layer_source is None else [random_layer(rng, layer_source, min(frame.shape[:2]))]
    still = frame.astype(np.float32)
    frames = np.stack([np.clip(draw_layer(still, layers[0], tau) + 0.5, 0, 255).astype(np.uint8)
                       for tau in (0.0, t, 1.0)] if layers else [frame] * 3)
    if rng.random() < 0.8:  # one quality for the clip, noise of its own per frame
        quality = int(rng.integers(30, 91))
        frames = _jpeg(_noisy(frames, rng, float(rng.uniform(0.5, 2.0))), quality)
    elif rng.random() < 0.5:
        frames = _noisy(frames, rng, float(rng.uniform(0.3, 1.5)))
    flows, second = full_flow_candidates(motion if motion is not None else FlowMotion(),
                                         frames[0], frames[2])
    if alternate:
        flows = np.concatenate([flows, flows if second is None else second])
    truth = true_flows(None, layers, t, frame.shape[:2])
    return frames, flows.astype(np.float32), t, truth


def _noisy(frames: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noise = rng.normal(0, sigma, frames.shape)
    return np.clip(frames + noise, 0, 255).round().astype(np.uint8)


def _jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    """Each frame through a JPEG round trip at ``quality``."""
    return np.stack([cv2.imdecode(cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, quality])[1],
                                  cv2.IMREAD_UNCHANGED) for x in frames])
