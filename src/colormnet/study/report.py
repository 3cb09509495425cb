"""``colormnet study report``: each method's share of the choices with a 95 % Wilson score interval,
as a table (CSV, Markdown) and a bar chart (PNG, like Fig. 4a of the paper's supplement).

The interval treats every vote as an independent Bernoulli trial ("was this method chosen?"); votes
of one observer are correlated in reality, so with few observers the intervals are optimistic.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

from colormnet.errors import InputError
from colormnet.io.atomic import atomic_write, atomic_write_text
from colormnet.study.folder import VOTES_FILE, load_study
from colormnet.study.votes import read_votes


@dataclass(frozen=True)
class MethodShare:
    """``chosen`` of ``total`` votes; ``share``, ``low``, ``high`` are fractions (0..1)."""

    method: str
    chosen: int
    total: int
    share: float
    low: float
    high: float


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n (0, 1 when n is 0)."""
    if n == 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class StudyReport:
    title: str
    shares: list[MethodShare]
    votes: int
    observers: int
    groups: int
    confidence: float
    by_position: tuple[int, ...] = ()  # choices of the result shown first (A), second (B), ...

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["method", "chosen", "votes", "percent", "ci_low_percent", "ci_high_percent"])
        for s in self.shares:
            w.writerow([s.method, s.chosen, s.total, f"{100 * s.share:.2f}", f"{100 * s.low:.2f}",
                        f"{100 * s.high:.2f}"])
        return buf.getvalue()

    def to_markdown(self) -> str:
        pct = f"{round(100 * self.confidence)} %"
        lines = [f"{self.votes} votes from {self.observers} observers on {self.groups} clips; "
                 f"{pct} Wilson score intervals.", "",
                 f"| method | chosen | selection | {pct} CI |", "|---|---:|---:|---|"]
        lines += [f"| {s.method} | {s.chosen} | {100 * s.share:.1f} % | {100 * s.low:.1f} - {100 * s.high:.1f} % |"
                  for s in self.shares]
        known = sum(self.by_position)
        if known:
            pos = ", ".join(f"{chr(ord('A') + i)} {100 * n / known:.1f} %" for i, n in enumerate(self.by_position))
            lines += ["", f"Choices by position on the page (the order is random, so a large imbalance means "
                          f"position bias): {pos}."]
        return "\n".join(lines) + "\n"


def study_report(folder: str | Path, confidence: float = 0.95) -> StudyReport:
    """Count the votes of the study in ``folder``; methods keep the order given to ``make``."""
    meta = load_study(folder)
    votes = read_votes(Path(folder) / VOTES_FILE)
    methods = list(meta["methods"])
    counts = Counter(v["method"] for v in votes)
    unknown = set(counts) - set(methods)
    if unknown:
        raise InputError(f"{Path(folder) / VOTES_FILE} has votes for {', '.join(sorted(unknown))}, which the study "
                         "does not compare; is it the votes file of another study?")
    n = len(votes)
    shares = []
    for m in methods:
        low, high = wilson_interval(counts[m], n, confidence)
        shares.append(MethodShare(m, counts[m], n, counts[m] / n if n else 0.0, low, high))
    positions = Counter(v["position"] for v in votes if isinstance(v.get("position"), int))
    by_position = tuple(positions[i] for i in range(len(methods))) if positions else ()
    return StudyReport(meta["title"], shares, n, len({v["observer"] for v in votes}), len(meta["groups"]),
                       confidence, by_position)


def bar_chart(report: StudyReport, path: str | Path) -> Path:
    """Selection percentage per method with its interval as error bars, saved as PNG (atomically)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("the chart needs matplotlib: pip install 'colormnet[study]' "
                         "(or pass --no-chart)") from None
    path = Path(path)
    names = [s.method for s in report.shares]
    pct = [100 * s.share for s in report.shares]
    err = [[100 * (s.share - s.low) for s in report.shares], [100 * (s.high - s.share) for s in report.shares]]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.6), dpi=150)
    colors = plt.get_cmap("tab10").colors
    bars = ax.bar(names, pct, yerr=err, capsize=4, color=[colors[i % 10] for i in range(len(names))],
                  edgecolor="black", linewidth=0.5)
    for bar, s in zip(bars, report.shares, strict=True):
        ax.annotate(f"{100 * s.share:.1f}%", (bar.get_x() + bar.get_width() / 2, 100 * s.high), xytext=(0, 3),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("selection (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"{report.votes} votes, {report.observers} observers, {report.groups} clips "
                 f"({round(100 * report.confidence)} % Wilson CI)", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    plt.setp(ax.get_xticklabels(), rotation=20 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    fig.tight_layout()
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png"), durable=False)
    finally:
        plt.close(fig)
    return path


def write_report(report: StudyReport, prefix: str | Path, chart: bool = True) -> list[Path]:
    """``PREFIX.csv``, ``PREFIX.md`` and (``chart``) ``PREFIX.png``; each replaced atomically."""
    prefix = Path(prefix)
    written = []
    for suffix, text in ((".csv", report.to_csv()), (".md", report.to_markdown())):
        path = prefix.with_name(prefix.name + suffix)
        atomic_write_text(path, text, durable=False)
        written.append(path)
    if chart:
        written.append(bar_chart(report, prefix.with_name(prefix.name + ".png")))
    return written
