"""Execution on a Ray cluster: one actor per GPU (or ``workers`` CPU actors), each holding one model.

Inputs, exemplars and outputs are paths: on a multi-node cluster they must be on a file system that
every node sees at the same path (NFS, a mounted bucket, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from colormnet.batch.execute import JobResult, ModelSource, run_job
from colormnet.batch.jobs import Job
from colormnet.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActorPlan:
    """The Ray actors of a run: how many, and what each reserves (``num_gpus`` 1 on a GPU cluster, else 0)."""

    count: int
    num_gpus: int
    num_cpus: int = 1

    @property
    def use_gpu(self) -> bool:
        return self.num_gpus > 0


def plan_actors(cluster_gpus: float, jobs: int, workers: int | None = None) -> ActorPlan:
    """One actor per GPU of the cluster, each reserving one GPU; without GPUs ``workers`` CPU actors
    (default 1). Never more actors than jobs, nor (on a GPU cluster) than GPUs: an actor waiting for a
    GPU that never frees would hold its jobs forever."""
    gpus = int(cluster_gpus)
    count = workers or max(gpus, 1)
    if gpus and count > gpus:
        log.warning("--ray-workers %d: the cluster has %d GPU(s); using %d actors, one per GPU", count, gpus, gpus)
        count = gpus
    return ActorPlan(max(1, min(count, jobs)), 1 if gpus else 0)


def actor_device(use_gpu: bool, cuda_available: bool) -> str:
    """The torch device inside an actor: ``cuda:0`` in a GPU actor (Ray sets ``CUDA_VISIBLE_DEVICES`` to
    the actor's one GPU, which torch then numbers 0), else ``cpu``."""
    if use_gpu and not cuda_available:
        log.warning("this Ray actor was given a GPU but torch sees no CUDA device; running on the CPU")
    return "cuda:0" if use_gpu and cuda_available else "cpu"


class _Worker:
    """Ray actor body: builds its model once, then colorizes the jobs it is given."""

    def __init__(self, source: ModelSource, use_gpu: bool) -> None:
        import socket

        import ray
        import torch

        self.device = actor_device(use_gpu, torch.cuda.is_available())
        gpu_ids = ray.get_gpu_ids() if use_gpu else []
        self.name = f"{socket.gethostname()}:{self.device}" + (
            f" [Ray GPU {','.join(map(str, gpu_ids))}]" if gpu_ids else "")
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

    One actor per GPU of the cluster, on ``cuda:0`` of its own GPU (``workers`` can lower the count);
    on a cluster without GPUs, ``workers`` CPU actors (default 1); see :func:`plan_actors`. A job whose
    actor dies is reported failed and the actor replaced.
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
        plan = plan_actors(ray.cluster_resources().get("GPU", 0), len(jobs), workers)
        remote_cls = ray.remote(num_gpus=plan.num_gpus, num_cpus=plan.num_cpus)(_Worker)
        log.info("Ray: %d %s actor(s) for %d job(s)", plan.count, "GPU" if plan.use_gpu else "CPU", len(jobs))

        def new_actor():
            return remote_cls.remote(source, plan.use_gpu)

        idle = [new_actor() for _ in range(plan.count)]
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
