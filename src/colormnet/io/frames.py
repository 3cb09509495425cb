"""Folders of frame images (DAVIS style: ``video/00000.png, 00001.png, ...``), read and written lazily.

Reading: :func:`list_frames` orders files naturally (``2.png`` before ``10.png``; the authors sort by
plain name, which is the same order for zero-padded names). Hidden files and sub-folders are ignored;
any other non-image file is an error rather than silently skipped (unless ``strict=False``), so a
stray file never shifts the frame order unnoticed. :func:`scan_clips` lists the clips of a
``<root>/<clip>/<frame>`` dataset the same way. These are the only frame lister and clip scanner:
inference, datasets, training and evaluation all use them.

Writing: :class:`FrameFolderWriter` writes PNGs into a temporary sibling folder and moves it into place
on :meth:`~FrameFolderWriter.close`, so an interrupted run never leaves a half-written output folder.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from colormnet.errors import InputError, OutputError
from colormnet.io.atomic import AtomicOutput, check_output_path, commit_dir, make_partial_dir, remove_quietly
from colormnet.io.images import image_size, load_frame_rgb

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
_IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that compares digit runs as numbers: ``frame2.png`` < ``frame10.png``.

    Text parts compare case-insensitively; the raw name breaks ties so the order is total.
    """
    parts = _DIGITS.split(name)
    key = tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts))
    return (key, name)


def list_frames(folder: PathLike, *, strict: bool = True) -> list[Path]:
    """Image files of a frame folder in natural order.

    Extensions: png, jpg, jpeg, tif, tiff, bmp, webp (any case). Hidden files (``.*``), sub-folders,
    ``Thumbs.db`` and ``desktop.ini`` are ignored. Raises :class:`InputError` when the folder is
    missing, or (``strict``) holds other files (listed in the message) or no frames; with
    ``strict=False`` other files are skipped and an empty folder gives ``[]``.
    """
    root = Path(folder)
    if not root.exists():
        raise InputError(f"frame folder {root} does not exist")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder of frames")
    frames: list[Path] = []
    others: list[str] = []
    for entry in root.iterdir():
        if entry.name.startswith(".") or entry.name.lower() in _IGNORED_NAMES or entry.is_dir():
            continue
        if entry.suffix.lower() in IMAGE_EXTENSIONS:
            frames.append(entry)
        else:
            others.append(entry.name)
    if others and not strict:
        log.debug("%s: skipped %d file(s) that are not frames", root, len(others))
    elif others:
        others.sort(key=natural_key)
        shown = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
        raise InputError(
            f"frame folder {root} contains files that are not frames: {shown}; move them out "
            f"(accepted extensions: {', '.join(sorted(e[1:] for e in IMAGE_EXTENSIONS))})"
        )
    if not frames and strict:
        raise InputError(f"frame folder {root} contains no frame images")
    frames.sort(key=lambda p: natural_key(p.name))
    return frames


def scan_clips(root: PathLike, *, strict: bool = True, what: str = "dataset folder") -> dict[str, list[Path]]:
    """Clip name -> frame paths (natural order) of a ``<root>/<clip>/<frame>`` dataset.

    Clip folders are the non-hidden sub-folders of ``root``, in natural order; frames are listed by
    :func:`list_frames` with ``strict`` (a clip folder with other files or no frames is an error;
    with ``strict=False`` such files are skipped and frameless folders left out). Raises
    :class:`InputError` naming ``what`` when ``root`` is not a folder.
    """
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{what} {base} does not exist or is not a directory; expected <clip>/<frame> images")
    names = sorted((d.name for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")), key=natural_key)
    clips = {name: list_frames(base / name, strict=strict) for name in names}
    return {name: frames for name, frames in clips.items() if frames}


class FrameFolderReader:
    """Lazy reader of a frame folder; yields uint8 RGB frames (H, W, 3) one at a time.

    ``size`` is (width, height) of the first frame; every frame must have it. With ``check_sizes``
    (default) all headers are read up front (cheap, no pixel decoding) so that a mismatching frame is
    reported before any work; otherwise it is reported when reached.
    """

    def __init__(self, folder: PathLike, *, check_sizes: bool = True) -> None:
        self.folder = Path(folder)
        self.paths: list[Path] = list_frames(self.folder)
        self.size: tuple[int, int] = image_size(self.paths[0])
        if check_sizes:
            for p in self.paths[1:]:
                self._check_size(p, image_size(p))

    @property
    def names(self) -> list[str]:
        """File names of the frames, in reading order."""
        return [p.name for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def _check_size(self, path: Path, size: tuple[int, int]) -> None:
        if size != self.size:
            raise InputError(
                f"frame {path} is {size[0]}x{size[1]} but the first frame {self.paths[0].name} is "
                f"{self.size[0]}x{self.size[1]}; all frames of a video must have the same size"
            )

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            rgb = load_frame_rgb(path)
            self._check_size(path, (rgb.shape[1], rgb.shape[0]))
            yield rgb

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(file name, uint8 RGB (H, W, 3))`` pairs in order."""
        yield from zip(self.names, self, strict=True)


class FrameFolderWriter(AtomicOutput):
    """Write frames as PNG files into a folder, atomically (temporary sibling folder, renamed on close).

    Use as a context manager: on normal exit the folder is moved into place; on an exception
    (including ``KeyboardInterrupt``) the temporary folder is deleted and the target is untouched.
    An existing non-empty target raises :class:`OutputError` unless ``overwrite``, and even then unless
    everything in it was written by an earlier colormnet run (listed in its manifest file
    :data:`~colormnet.io.atomic.MANIFEST_NAME`, which this writer adds); ``inputs`` are paths the
    output must not be (or contain). ``compress_level`` is Pillow's PNG zlib level (0-9).
    """

    def __init__(
        self,
        folder: PathLike,
        overwrite: bool = False,
        *,
        inputs: Iterable[PathLike | None] = (),
        compress_level: int = 6,
    ) -> None:
        self.folder = check_output_path(folder, inputs=inputs, overwrite=overwrite, is_dir=True)
        self.overwrite = overwrite
        self.compress_level = compress_level
        self._tmp: Path | None = make_partial_dir(self.folder)
        self._names: set[str] = set()
        self.count = 0

    def write(self, frame: np.ndarray, name: str | None = None) -> Path:
        """Save uint8 RGB (H, W, 3) or gray (H, W) as ``<name stem>.png`` (default ``%05d.png``).

        Returns the final path the file will have after :meth:`close`.
        """
        if self._tmp is None:
            raise RuntimeError("FrameFolderWriter is closed")
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)):
            raise ValueError(f"expected uint8 (H, W, 3) or (H, W), got {frame.dtype} {frame.shape}")
        fname = f"{self.count:05d}.png" if name is None else Path(name).with_suffix(".png").name
        if fname in self._names:
            raise ValueError(f"frame name {fname} written twice to {self.folder}")
        try:
            Image.fromarray(np.ascontiguousarray(frame)).save(
                self._tmp / fname, format="PNG", compress_level=self.compress_level
            )
        except OSError as exc:
            raise OutputError(f"could not write frame {fname} for {self.folder}: {exc}") from exc
        self._names.add(fname)
        self.count += 1
        return self.folder / fname

    def close(self) -> Path:
        """Move the finished folder into place and return its path."""
        if self._tmp is None:
            return self.folder
        tmp, self._tmp = self._tmp, None
        return commit_dir(tmp, self.folder, overwrite=self.overwrite, written=self._names)

    def abort(self) -> None:
        """Discard everything written; the target folder is left as it was."""
        tmp, self._tmp = self._tmp, None
        remove_quietly(tmp)

