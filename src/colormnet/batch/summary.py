"""The batch summary table (input, output, frames, s/frame, status, error, worker) as CSV and Markdown."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from colormnet.batch.execute import JobResult
from colormnet.io.atomic import atomic_write_text

COLUMNS = ("input", "output", "frames", "s_per_frame", "status", "error", "worker")


def _cells(r: JobResult) -> list[str]:
    spf = r.seconds_per_frame
    return [r.input, r.output, "" if r.frames is None else str(r.frames), "" if spf is None else f"{spf:.3f}",
            r.status, r.error, r.worker]


def to_csv(results: Sequence[JobResult]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(_cells(r) for r in results)
    return buf.getvalue()


def to_markdown(results: Sequence[JobResult]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed", "not run")}
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---|---|---:|---:|---|---|---|"]
    lines += ["| " + " | ".join(esc(c) for c in _cells(r)) + " |" for r in results]
    lines += ["", ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no jobs"]
    return "\n".join(lines) + "\n"


def write_summary(results: Sequence[JobResult], out_dir: Path, name: str = "batch_summary") -> tuple[Path, Path]:
    """Write ``OUT/batch_summary.csv`` and ``.md`` (replacing the previous run's); returns both paths."""
    csv_path, md_path = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    atomic_write_text(csv_path, to_csv(results), durable=False)  # a reader never sees half a table
    atomic_write_text(md_path, to_markdown(results), durable=False)
    return csv_path, md_path
