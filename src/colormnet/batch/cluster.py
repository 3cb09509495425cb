"""Execution on a Ray cluster: one actor per GPU (or ``workers`` CPU actors), each holding one model.

Inputs, exemplars and outputs are paths: on a multi-node cluster they must be on a file system that
every node sees at the same path (NFS, a mounted bucket, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from colormnet.batch.execute import JobResult, ModelSource, run_job
from colormnet.batch.jobs import Job
from colormnet.errors import InputError

log = logging.getLogger(__name__)


class _Worker:
    """Ray actor body: builds its model once, then colorizes the jobs it is given."""

    def __init__(self, source: ModelSource, use_gpu: bool) -> None:
        import socket

        import torch

        self.device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
        self.name = f"{socket.gethostname()}:{self.device}"
        self.model, self.load_error = None, ""
        try:
            self.model = source.build(self.device)
        except Exception as exc:  # reported with every job this actor gets, instead of a bare actor death
            self.load_error = f"could not load the model on {self.name}: {type(exc).__name__}: {exc}"

    def run(self, job: Job, overwrite: bool) -> JobResult:
        if self.model is None:
            return JobResult(str(job.input), str(job.output), "failed", error=self.load_error, worker=self.name)
        return run_job(job, self.model, self.device, overwrite=overwrite, worker=self.name)


def run_ray(jobs: Sequence[Job], source: ModelSource, *, address: str | None, overwrite: bool,
            on_result: Callable[[JobResult], None], workers: int | None = None,
            init_kwargs: dict[str, Any] | None = None) -> None:
    """Run ``jobs`` on the Ray cluster at ``address`` (None: start a local one for this run).

    One actor per GPU of the cluster (``workers`` overrides the count); on a cluster without GPUs,
    ``workers`` CPU actors (default 1). A job whose actor dies is reported failed and the actor replaced.
    """
    try:
        import ray
        from ray.exceptions import RayActorError, RayError
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'colormnet[dist]' (or pip install 'ray>=2.9')") from None

    started_here = not ray.is_initialized()
    if started_here:
        kwargs = dict(init_kwargs or {})
        if address:
            kwargs["address"] = address
        kwargs.setdefault("log_to_driver", log.isEnabledFor(logging.DEBUG))
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise InputError(f"could not connect to the Ray cluster at {address}: {exc}; start it with "
                             "'ray start --head' or omit the address for a local cluster") from exc
    try:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        count = workers or max(gpus, 1)
        remote_cls = ray.remote(num_gpus=1 if gpus else 0, num_cpus=1)(_Worker)
        count = min(count, len(jobs)) or 1
        log.info("Ray: %d %s actor(s) for %d job(s)", count, "GPU" if gpus else "CPU", len(jobs))

        def new_actor():
            return remote_cls.remote(source, bool(gpus))

        idle = [new_actor() for _ in range(count)]
        pending = list(jobs)
        running: dict[Any, tuple[Any, Job]] = {}
        try:
            while pending or running:
                while pending and idle:
                    actor, job = idle.pop(), pending.pop(0)
                    running[actor.run.remote(job, overwrite)] = (actor, job)
                done, _ = ray.wait(list(running), num_returns=1)
                actor, job = running.pop(done[0])
                try:
                    result = ray.get(done[0])
                except RayActorError as exc:  # the actor (or its node) died: replace it
                    result = JobResult(str(job.input), str(job.output), "failed",
                                       error=f"Ray worker died: {str(exc).splitlines()[0]}")
                    ray.kill(actor)
                    actor = new_actor()
                except RayError as exc:
                    result = JobResult(str(job.input), str(job.output), "failed",
                                       error=str(exc).strip().splitlines()[-1])
                idle.append(actor)
                on_result(result)
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
            for actor in idle + [a for a, _ in running.values()]:
                ray.kill(actor)
    finally:
        if started_here:
            ray.shutdown()
