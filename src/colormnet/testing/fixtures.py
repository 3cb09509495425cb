"""Reading and replaying parity fixtures (format: shared/fixtures/README.md).

A fixture directory holds ``config.json``, ``outputs.npz``, the input frames and the exemplar,
and optionally ``intermediates.npz``. :func:`replay` runs one through the streaming
engine (:func:`colorize_frames`'s code path) the way the authors' ``test.py`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colormnet.color import rgb_to_lab_norm
from colormnet.config import MemoryConfig
from colormnet.inference.engine import ColorizeOptions, iter_colorize
from colormnet.inference.exemplars import Exemplar
from colormnet.io.images import load_frame_rgb, resize_exemplar
from colormnet.model.network import ColorMNet

FIRST_FRAME_IS_EXEMPLAR = "first_frame_is_exemplar"
FIRST_FRAME_IS_NOT_EXEMPLAR = "first_frame_is_not_exemplar"


@dataclass(frozen=True)
class Fixture:
    path: Path
    config: dict

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def mode(self) -> str:
        return self.config["mode"]

    @property
    def memory(self) -> MemoryConfig:
        m = self.config["memory"]
        return MemoryConfig(
            mem_every=m["mem_every"], deep_update_every=m["deep_update_every"],
            max_mid_term_frames=m["max_mid_term_frames"], min_mid_term_frames=m["min_mid_term_frames"],
            max_long_term_elements=m["max_long_term_elements"], num_prototypes=m["num_prototypes"],
            top_k=m["top_k"], enable_long_term=m["enable_long_term"])

    def outputs(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "outputs.npz") as z:
            return dict(z)

    def intermediates(self) -> dict[str, np.ndarray] | None:
        p = self.path / "intermediates.npz"
        if not p.exists():
            return None
        with np.load(p) as z:
            return dict(z)


def find_fixtures(root: Path) -> list[Fixture]:
    """Every sub-directory of ``root`` with a config.json and outputs.npz, sorted by name."""
    return [Fixture(p, json.loads((p / "config.json").read_text()))
            for p in sorted(root.iterdir())
            if (p / "config.json").is_file() and (p / "outputs.npz").is_file()]


def read_lab(path: Path, size_wh: tuple[int, int] | None = None) -> np.ndarray:
    """An image as the authors' reader gives it: RGB, optional bilinear resize -> (3, H, W) Lab'."""
    rgb = load_frame_rgb(path)
    return rgb_to_lab_norm(rgb if size_wh is None else resize_exemplar(rgb, tuple(size_wh)))


@dataclass
class ReplayResult:
    ab: np.ndarray              # (T, 2, H, W) float32
    rgb: np.ndarray             # (T, H, W, 3) uint8
    work_mem_elements: np.ndarray
    long_mem_elements: np.ndarray
    is_memory_frame: np.ndarray
    frame0_l_norm: np.ndarray
    exemplar_lab_norm: np.ndarray


def replay(model: ColorMNet, fixture: Fixture) -> ReplayResult:
    """Run a fixture through the streaming engine (native size) configured like the authors' script."""
    cfg = fixture.config
    size = tuple(cfg["frame_size_wh"])
    if fixture.mode not in (FIRST_FRAME_IS_EXEMPLAR, FIRST_FRAME_IS_NOT_EXEMPLAR):
        raise ValueError(f"{fixture.path}: unknown mode {fixture.mode!r}")
    keyframe = 0 if fixture.mode == FIRST_FRAME_IS_EXEMPLAR else None
    exemplar = Exemplar(load_frame_rgb(fixture.path / cfg["exemplar_file"]), keyframe, cfg["exemplar_file"])
    frames = (load_frame_rgb(fixture.path / name) for name in cfg["frame_files"])
    results = list(iter_colorize(model, frames, [exemplar], ColorizeOptions(fixture.memory, max_side=0)))
    sizes = [r.info.memory_sizes for r in results]
    return ReplayResult(
        ab=np.stack([r.ab for r in results]),
        rgb=np.stack([r.rgb for r in results]),
        # the authors count their single exemplar as part of working memory
        work_mem_elements=np.array([s["permanent"] + s["working"] for s in sizes]),
        long_mem_elements=np.array([s["long_term"] for s in sizes]),
        is_memory_frame=np.array([r.info.is_memory_frame for r in results]),
        frame0_l_norm=rgb_to_lab_norm(load_frame_rgb(fixture.path / cfg["frame_files"][0]))[0],
        exemplar_lab_norm=rgb_to_lab_norm(resize_exemplar(exemplar.rgb, size)),
    )
