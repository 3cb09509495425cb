"""Local execution: one worker per device (each GPU, or the CPU), each holding one model."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

from colormnet.batch.execute import JobResult, ModelSource, run_job
from colormnet.batch.jobs import Job
from colormnet.errors import InputError

log = logging.getLogger(__name__)


def local_devices(spec: str = "auto") -> list[str]:
    """``auto``/``cuda``: every visible GPU (else MPS, else the CPU); ``cpu``, ``mps``, ``cuda:N`` or a
    comma-separated list (``cuda:0,cuda:2``): those devices. One worker runs on each."""
    import torch

    from colormnet.device import resolve_device

    names = [s.strip() for s in spec.split(",") if s.strip()] or ["auto"]
    if names in (["auto"], ["cuda"]) and torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    devices = [str(resolve_device(n)) for n in names]
    if len(set(devices)) != len(devices):
        raise InputError(f"device list {spec!r} names a device twice")
    return devices


def run_local(jobs: Sequence[Job], source: ModelSource, devices: Sequence[str], *, overwrite: bool,
              on_result: Callable[[JobResult], None]) -> None:
    """Run ``jobs`` on ``devices``; ``on_result`` is called (from one thread at a time) after each job.

    With one device everything runs in the calling thread, so Ctrl-C stops the running job at once
    and its partial output is removed. With several, worker threads take jobs from a shared queue
    (decoding, encoding and the network release the GIL); on Ctrl-C no new job is started and the
    running ones are abandoned under their temporary names.
    """
    if len(devices) == 1:
        model = source.build(devices[0])
        for job in jobs:
            on_result(run_job(job, model, devices[0], overwrite=overwrite, worker=devices[0]))
        return

    todo: queue.Queue[Job] = queue.Queue()
    for job in jobs:
        todo.put(job)
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def report(result: JobResult) -> None:
        with lock:
            on_result(result)

    def worker(device: str) -> None:
        try:
            model = source.build(device)
        except Exception as exc:  # this device is unusable; the others go on
            log.error("worker on %s could not load the model: %s", device, exc)
            errors.append(exc)
            return
        while not stop.is_set():
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            report(run_job(job, model, device, overwrite=overwrite, worker=device))

    threads = [threading.Thread(target=worker, args=(d,), name=f"colormnet-{d}", daemon=True) for d in devices]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        raise
    if len(errors) == len(devices):
        raise errors[0]
