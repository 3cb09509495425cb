"""End-of-run summary: scene cuts, per-frame confidence, and the shots that would benefit from an
exemplar (low mean confidence). Kept as a few numbers per frame, never frames."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colormnet.inference.engine import FrameResult
from colormnet.io.atomic import commit_file, partial_file_path, remove_quietly

DEFAULT_LOW_CONFIDENCE = 0.5
"""A shot whose mean confidence is below this is listed as needing an exemplar."""


@dataclass(frozen=True)
class FrameStat:
    """Confidence statistics of one frame: mean and 10th percentile over its pixels."""

    frame: int
    mean: float
    p10: float
    is_cut: bool
    has_exemplar: bool


class RunSummary:
    """Collects :class:`FrameStat` for each result; ``shots()``, ``suggestions()``, JSON and CSV."""

    def __init__(self, low_confidence: float = DEFAULT_LOW_CONFIDENCE, keyframes: set[int] | frozenset = frozenset()
                 ) -> None:
        self.low_confidence = low_confidence
        self.keyframes = set(keyframes)
        self.frames: list[FrameStat] = []

    def add(self, result: FrameResult) -> FrameStat:
        t = len(self.frames)
        conf = result.confidence
        small = conf[::4, ::4] if conf is not None else np.ones((1, 1), np.float32)
        stat = FrameStat(t, float(conf.mean()) if conf is not None else 1.0, float(np.percentile(small, 10)),
                         bool(result.is_cut), t in self.keyframes)
        self.frames.append(stat)
        return stat

    @property
    def cuts(self) -> list[int]:
        return [f.frame for f in self.frames if f.is_cut]

    def shots(self) -> list[dict]:
        """Per shot: index, first/last frame, mean and lowest frame confidence, whether it has a keyframe
        exemplar, and the frame with the lowest mean confidence (where an exemplar would help most)."""
        starts = [0, *self.cuts]
        out = []
        for i, first in enumerate(starts):
            last = (starts[i + 1] if i + 1 < len(starts) else len(self.frames)) - 1
            stats = self.frames[first:last + 1]
            worst = min(stats, key=lambda s: s.mean)
            out.append({"index": i, "first_frame": first, "last_frame": last,
                        "mean_confidence": round(float(np.mean([s.mean for s in stats])), 4),
                        "min_frame_confidence": round(worst.mean, 4), "lowest_frame": worst.frame,
                        "has_exemplar": any(s.has_exemplar for s in stats)})
        return out

    def suggestions(self) -> list[dict]:
        """Shots with mean confidence below ``low_confidence``, least confident first, with the frame
        to colour (the least confident one) and the runs of frames below the threshold."""
        out = []
        for shot in self.shots():
            if shot["mean_confidence"] >= self.low_confidence:
                continue
            stats = self.frames[shot["first_frame"]:shot["last_frame"] + 1]
            out.append({**shot, "suggested_exemplar_frame": shot["lowest_frame"],
                        "low_frames": _runs([s.frame for s in stats if s.mean < self.low_confidence])})
        return sorted(out, key=lambda s: s["mean_confidence"])

    def to_dict(self) -> dict:
        mean = round(float(np.mean([f.mean for f in self.frames])), 4) if self.frames else None
        return {"frames": len(self.frames), "scene_cuts": self.cuts,
                "confidence": {"definition": "see colormnet.memory.confidence: 1 on exemplars, else key match x "
                                             "source confidence over the top-k readout, averaged with local "
                                             "attention's",
                               "low_confidence_threshold": self.low_confidence,
                               "mean": mean},
                "shots": self.shots(), "would_benefit_from_exemplar": self.suggestions()}

    def lines(self) -> list[str]:
        """Human-readable end-of-run lines."""
        cuts = self.cuts
        lines = [f"scene cuts at frames: {', '.join(map(str, cuts))}" if cuts else "no scene cut found"]
        sugg = self.suggestions()
        if sugg:
            lines.append(f"shots that would benefit from an exemplar (mean confidence < {self.low_confidence}):")
            lines += [f"  shot {s['index']}: frames {s['first_frame']}-{s['last_frame']}, mean confidence "
                      f"{s['mean_confidence']:.2f}; colour frame {s['suggested_exemplar_frame']}" for s in sugg]
        else:
            lines.append(f"every shot has mean confidence >= {self.low_confidence}")
        return lines


def _runs(frames: list[int]) -> list[list[int]]:
    """[3, 4, 5, 9] -> [[3, 5], [9, 9]]."""
    runs: list[list[int]] = []
    for f in frames:
        if runs and runs[-1][1] == f - 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return runs


def write_json(data: dict, path: Path, overwrite: bool) -> Path:
    """Write JSON under a temporary name and rename it into place."""
    tmp = partial_file_path(path)
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        return commit_file(tmp, path, overwrite=overwrite)
    except BaseException:
        remove_quietly(tmp)
        raise


def write_frame_csv(summary: RunSummary, path: Path, overwrite: bool) -> Path:
    """Per-frame CSV: frame, mean_confidence, p10_confidence, is_cut, has_exemplar."""
    tmp = partial_file_path(path)
    try:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["frame", "mean_confidence", "p10_confidence", "is_cut", "has_exemplar"])
            for s in summary.frames:
                w.writerow([s.frame, f"{s.mean:.4f}", f"{s.p10:.4f}", int(s.is_cut), int(s.has_exemplar)])
        return commit_file(tmp, path, overwrite=overwrite)
    except BaseException:
        remove_quietly(tmp)
        raise
