"""Safe output paths: refuse to clobber inputs or existing outputs, write under a temporary name, rename.

Every writer in :mod:`colormnet.io` follows the same pattern:

1. :func:`check_output_path` before any work (output is not an input, does not exist unless
   ``overwrite``, its directory exists and is writable);
2. write to :func:`partial_file_path` / :func:`make_partial_dir` in the same directory, so the final
   rename never crosses a file system;
3. :func:`commit_file` / :func:`commit_dir` on success, :func:`remove_quietly` on failure.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

from colormnet.errors import OutputError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file or directory (links and hard links included)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _is_within(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def check_output_path(
    path: PathLike,
    *,
    inputs: Iterable[PathLike | None] = (),
    overwrite: bool = False,
    is_dir: bool = False,
) -> Path:
    """Validate an output path before any work is done; return it as a :class:`Path`.

    Raises :class:`OutputError` when the output is one of ``inputs`` (or, for a directory output,
    contains one), when it exists and ``overwrite`` is false (an existing *empty* directory is
    accepted for ``is_dir``), when a file stands where a directory should be (or the reverse),
    or when its parent directory is missing or not writable.
    """
    out = Path(path).expanduser()
    for item in inputs:
        if item is None:
            continue
        src = Path(item).expanduser()
        if _same_file(out, src):
            raise OutputError(f"output {out} is the same as the input {src}; choose another output path")
        if is_dir and _is_within(src, out):
            raise OutputError(f"output folder {out} contains the input {src}; choose another output folder")
    if out.exists() or out.is_symlink():
        if is_dir and not out.is_dir():
            raise OutputError(f"output {out} exists and is not a folder; remove it or choose another path")
        if not is_dir and out.is_dir():
            raise OutputError(f"output {out} is a folder; give a file name instead")
        if not overwrite and not (is_dir and not any(out.iterdir())):
            raise OutputError(f"output {out} already exists; pass overwrite (--overwrite) to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output directory {parent} does not exist; create it first")
    _check_writable(parent)
    return out


def _check_writable(directory: Path) -> None:
    """Raise :class:`OutputError` unless a file can really be created in ``directory``."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".colormnet-write-test-", dir=directory)
    except OSError as exc:
        raise OutputError(f"output directory {directory} is not writable ({exc.strerror or exc})") from exc
    os.close(fd)
    os.unlink(probe)


def partial_file_path(path: PathLike) -> Path:
    """Temporary sibling of ``path`` that keeps its extension: ``out.mp4`` -> ``.out.partial.mp4``.

    The extension is kept so that format detection from the name (FFmpeg, Pillow) still works.
    """
    p = Path(path)
    return p.with_name(f".{p.stem}.partial{p.suffix}")


def make_partial_dir(path: PathLike) -> Path:
    """Create and return a fresh, uniquely named temporary sibling directory of ``path``."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.partial-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    return tmp


def remove_quietly(path: PathLike | None) -> None:
    """Delete a file or directory tree if it exists; log (never raise) on failure."""
    if path is None:
        return
    p = Path(path)
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    except OSError as exc:  # pragma: no cover - best effort cleanup
        log.warning("could not remove temporary %s: %s", p, exc)


def commit_file(tmp: PathLike, final: PathLike, *, overwrite: bool) -> Path:
    """Rename the finished temporary file ``tmp`` onto ``final`` (atomic within one file system).

    Re-checks that ``final`` did not appear meanwhile when ``overwrite`` is false.
    """
    tmp, final = Path(tmp), Path(final)
    if not overwrite and (final.exists() or final.is_symlink()):
        remove_quietly(tmp)
        raise OutputError(f"output {final} appeared while writing; not replaced (pass overwrite to replace)")
    try:
        os.replace(tmp, final)
    except OSError as exc:
        remove_quietly(tmp)
        raise OutputError(f"could not move the finished output into place at {final}: {exc}") from exc
    return final


def commit_dir(tmp: PathLike, final: PathLike, *, overwrite: bool) -> Path:
    """Move the finished temporary directory ``tmp`` to ``final``.

    ``os.replace`` cannot replace a non-empty directory, so an existing ``final`` (allowed when it is
    empty, or with ``overwrite``) is first renamed aside, then removed once ``tmp`` is in place; if
    the second rename fails the old directory is put back.
    """
    tmp, final = Path(tmp), Path(final)
    old: Path | None = None
    if final.exists():
        if not final.is_dir():
            remove_quietly(tmp)
            raise OutputError(f"output {final} exists and is not a folder; not replaced")
        if any(final.iterdir()) and not overwrite:
            remove_quietly(tmp)
            raise OutputError(f"output folder {final} appeared while writing; not replaced")
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError as exc:
        if old is not None:
            os.replace(old, final)
        remove_quietly(tmp)
        raise OutputError(f"could not move the finished folder into place at {final}: {exc}") from exc
    remove_quietly(old)
    return final


class AtomicOutput:
    """Context-manager protocol of the atomic writers: ``close()`` on success, ``abort()`` on any
    exception (KeyboardInterrupt included). Subclasses define both."""

    def close(self) -> Path:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
