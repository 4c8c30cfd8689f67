"""Run batch files on a Ray cluster: one task per file, the parent keeps the manifest.

Same runner interface as :class:`vidiff.jobs.local_runner.LocalRunner`. ``address`` is a Ray
address (``auto``, ``ray://host:10001``, ``host:6379``) or ``None`` for a new local Ray runtime.
Each task asks for ``cpus`` CPUs (its torch thread budget) and ``gpus`` GPUs; with GPUs Ray sets
``CUDA_VISIBLE_DEVICES`` for the task, which then runs on ``cuda``. INPUT_DIR and OUTPUT_DIR
must be reachable at the same paths on every node (a shared filesystem): tasks read and write
there directly, through the same atomic writes as local runs. Per-file progress bars are not
shown (only whole files are reported); cancelling sends the task a KeyboardInterrupt, which
removes its temporary output.

Ray is an optional dependency (``pip install 'vidiff[ray]'``); it is imported only here.
"""

from __future__ import annotations

from .batch_worker import FileTask, Outcome

INSTALL_HINT = "pip install 'vidiff[ray]'  (or: pip install 'ray>=2.9')"


def import_ray():
    from ..errors import OptionError

    try:
        import ray
    except ImportError:
        raise OptionError(f"--ray needs the Ray package, which is not installed: {INSTALL_HINT}") from None
    return ray


def _ray_convert(task: FileTask, device: str | None, threads: int) -> Outcome:
    import torch

    from .batch_worker import convert_file

    torch.set_num_threads(max(1, threads))
    return convert_file(task, device)


class RayRunner:
    def __init__(self, address: str | None = None, *, cpus: float = 1, gpus: float | None = None,
                 device: str = "auto", jobs: int | None = None):
        ray = self._ray = import_ray()
        self._started_here = False
        if not ray.is_initialized():
            kwargs = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                import os

                kwargs["num_cpus"] = os.cpu_count() or 1
            else:
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                from ..errors import OptionError

                where = address or "a local runtime"
                raise OptionError(f"--ray {where}: could not start or reach Ray: {exc}") from None
            self._started_here = True
        resources = ray.cluster_resources()
        if gpus is None:  # one GPU per task when the cluster has GPUs and the device allows it
            gpus = 1 if resources.get("GPU", 0) and not str(device).startswith("cpu") else 0
        self.gpus = gpus
        self.device = "cuda" if gpus else None
        slots = int(resources.get("CPU", 1) // max(cpus, 1e-9))
        if gpus:
            slots = min(slots, int(resources.get("GPU", 0) // gpus))
            if slots < 1:
                from ..errors import OptionError

                raise OptionError(
                    f"--ray: each task asks for {gpus} GPU(s), but the cluster has "
                    f"{resources.get('GPU', 0)}: use --device cpu or a cluster with GPUs"
                )
        self.capacity = max(1, jobs if jobs else slots)
        self._remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_ray_convert)
        self._threads = max(1, int(cpus))

    per_file_progress = False

    def start(self, task: FileTask, device: str | None):
        return self._remote.remote(task, self.device or device, self._threads)

    def wait(self, handles, timeout: float):
        ray = self._ray
        if not handles:
            return []
        ready, _ = ray.wait(list(handles), num_returns=1, timeout=timeout)
        finished = []
        for ref in ready:
            try:
                outcome = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                outcome = Outcome("cancelled", error="interrupted")
            except ray.exceptions.RayError as exc:  # the task's worker or node died
                text = " ".join(str(exc).split())[:300]
                outcome = Outcome("failed", error=f"Ray task failed: {text}")
            finished.append((ref, outcome))
        return finished

    def progress(self):
        return []

    def cancel(self, handles) -> None:
        for ref in handles:
            self._ray.cancel(ref)

    def close(self) -> None:
        if self._started_here:
            self._started_here = False
            self._ray.shutdown()
