"""``vidiff batch --ray`` on a real local Ray runtime (no mocks); skipped without Ray installed."""

import os
from pathlib import Path

import pytest
from media import read_frames_pyav, write_clip, write_random_bytes

from vidiff.jobs.batch import batch_convert
from vidiff.jobs.manifest import MANIFEST_NAME, read_records

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'vidiff[ray]'")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def local_ray():
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path, "VIDIFF_WEIGHTS": "none"}},
    )
    yield
    ray.shutdown()


def test_ray_batch_converts_records_and_resumes(tmp_path, local_ray):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    write_clip(src / "a.mp4", 6)
    write_clip(src / "sub/b.mkv", 5, codec="ffv1")
    write_random_bytes(src / "bad.mp4")
    out = tmp_path / "out"

    result = batch_convert(src, out, multi=2, steps=0, recursive=True, ray=True)
    assert {e.input: e.status for e in result.entries} == {
        "a.mp4": "done", "bad.mp4": "failed", "sub/b.mkv": "done"
    }
    assert len(read_frames_pyav(out / "a.2x.mp4")) == 12
    assert len(read_frames_pyav(out / "sub/b.2x.mkv")) == 10
    records = {r["input"]: r for r in read_records(out / MANIFEST_NAME)}
    assert records["bad.mp4"]["status"] == "invalid" and "not a video" in records["bad.mp4"]["error"]
    assert records["a.mp4"]["host"] and records["a.mp4"]["device"] is not None

    again = batch_convert(src, out, multi=2, steps=0, recursive=True, ray=True)
    assert again.count("done") == 0 and again.count("skipped") == 2
    assert read_records(out / MANIFEST_NAME) == list(records.values())
