"""Reading and replaying parity fixtures (format: shared/fixtures/README.md).

A fixture directory holds ``config.json``, ``outputs.npz``, the input frames and the exemplar,
and optionally ``intermediates.npz``. :func:`replay` runs one through a
:class:`~colormnet.inference.session.ColorizationSession` the way the authors' ``test.py`` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colormnet.color import lab_norm_to_rgb, rgb_to_lab_norm
from colormnet.config import MemoryConfig
from colormnet.inference.session import ColorizationSession
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
    """An image as the authors' reader gives it: PIL RGB, optional bilinear resize -> (3, H, W) Lab'."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        if size_wh is not None and img.size != tuple(size_wh):
            img = img.resize(tuple(size_wh), Image.BILINEAR)
        return rgb_to_lab_norm(np.asarray(img))


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
    """Run a fixture's frames through a session configured like the authors' script."""
    cfg = fixture.config
    size = tuple(cfg["frame_size_wh"])
    exemplar = read_lab(fixture.path / cfg["exemplar_file"], size)
    session = ColorizationSession(model, fixture.memory)
    if fixture.mode == FIRST_FRAME_IS_NOT_EXEMPLAR:
        session.add_reference(torch.from_numpy(exemplar[0]), torch.from_numpy(exemplar[1:]))
    elif fixture.mode != FIRST_FRAME_IS_EXEMPLAR:
        raise ValueError(f"{fixture.path}: unknown mode {fixture.mode!r}")
    files = cfg["frame_files"]
    ab_all, rgb_all, work, long, is_mem = [], [], [], [], []
    frame0_l = None
    for t, name in enumerate(files):
        l_norm = read_lab(fixture.path / name)[0]
        frame0_l = l_norm if t == 0 else frame0_l
        ex_ab = torch.from_numpy(exemplar[1:]) if t == 0 and fixture.mode == FIRST_FRAME_IS_EXEMPLAR else None
        ab = session.step(torch.from_numpy(l_norm), exemplar_ab=ex_ab, is_last=t == len(files) - 1)
        ab = ab.float().cpu().numpy()
        info = session.last_info
        ab_all.append(ab)
        rgb_all.append(lab_norm_to_rgb(l_norm, ab))
        # the authors count their single exemplar as part of working memory
        work.append(info.memory_sizes["permanent"] + info.memory_sizes["working"])
        long.append(info.memory_sizes["long_term"])
        is_mem.append(info.is_memory_frame)
    return ReplayResult(np.stack(ab_all), np.stack(rgb_all), np.array(work), np.array(long),
                        np.array(is_mem), frame0_l, exemplar)
