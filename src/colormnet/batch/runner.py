"""``run_batch``: skip finished outputs, run the rest locally or on Ray, write the summary table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from colormnet.batch.execute import JobResult, ModelSource
from colormnet.batch.jobs import Job, check_distinct_outputs
from colormnet.batch.summary import write_summary
from colormnet.errors import OutputError

log = logging.getLogger(__name__)


def run_batch(jobs: Sequence[Job], out_dir: str | Path, *, source: ModelSource | None = None,
              devices: str = "auto", ray: bool = False, ray_address: str | None = None,
              ray_workers: int | None = None, ray_init: dict[str, Any] | None = None,
              overwrite: bool = False, progress: bool = True) -> list[JobResult]:
    """Colorize ``jobs``; returns one :class:`JobResult` per job, in job order.

    Resumable: a job whose output already exists is ``skipped`` (``overwrite`` redoes it). Outputs
    are written under temporary names and renamed when complete, so an interrupted run leaves only
    finished outputs, and re-running finishes the rest. A failing job is ``failed`` with its
    message; the others go on. ``OUT/batch_summary.csv`` and ``.md`` are rewritten after every job.

    Locally (``ray=False``) one worker runs per device of ``devices`` (see
    :func:`colormnet.batch.local.local_devices`); with ``ray`` the jobs go to a Ray cluster
    (``ray_address``; None starts a local one; ``ray_init`` are extra ``ray.init`` arguments).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} is a file; give a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    check_distinct_outputs(list(jobs))
    source = source or ModelSource()
    results: dict[int, JobResult] = {}
    todo: list[Job] = []
    index = {id(job): i for i, job in enumerate(jobs)}
    for i, job in enumerate(jobs):
        if job.output.exists() and not overwrite:
            results[i] = JobResult(str(job.input), str(job.output), "skipped", error="output exists")
        else:
            todo.append(job)
    by_key = {(str(job.input), str(job.output)): index[id(job)] for job in todo}
    log.info("%d job(s): %d to run, %d already finished", len(jobs), len(todo), len(jobs) - len(todo))

    def ordered() -> list[JobResult]:
        return [results[i] for i in sorted(results)]

    bar = tqdm(total=len(todo), unit="video", desc="batch", disable=not progress or not todo, dynamic_ncols=True)

    def on_result(result: JobResult) -> None:
        results[by_key[(result.input, result.output)]] = result
        bar.update()
        if result.status == "failed":
            bar.write(f"failed: {result.input}: {result.error}")
        write_summary(ordered(), out_dir)

    try:
        if todo:
            if ray:
                from colormnet.batch.cluster import run_ray

                run_ray(todo, source, address=ray_address, overwrite=overwrite, on_result=on_result,
                        workers=ray_workers, init_kwargs=ray_init)
            else:
                from colormnet.batch.local import local_devices, run_local

                run_local(todo, source, local_devices(devices), overwrite=overwrite, on_result=on_result)
    finally:
        bar.close()
        for job in todo:  # interrupted (Ctrl-C) or no worker could start: say so in the table
            i = index[id(job)]
            if i not in results:
                results[i] = JobResult(str(job.input), str(job.output), "not run", error="interrupted")
        write_summary(ordered(), out_dir)
    return ordered()
