"""The one way this package writes files: temporary name beside the target, then rename.

Every output (videos, frame folders, reports, training checkpoints, downloaded weights) goes through
this module:

1. :func:`check_output_path` before any work (the output is not an input, does not exist unless
   ``overwrite``, its directory exists and is writable; an existing folder is only replaced when
   everything in it was written by this program, see :data:`MANIFEST_NAME`);
2. the data is written under a temporary name in the same directory (:class:`AtomicFile`,
   :func:`atomic_write`, or :func:`partial_file_path` / :func:`make_partial_dir` for writers that
   need a path), so the final rename never crosses a file system;
3. :func:`commit_file` / :func:`commit_dir` on success, :func:`remove_quietly` on failure.

Temporary names carry the host and process id (``.out.partial-HOST-PID-RAND.mp4``). A temporary
left behind by a killed run of the same output (same host, process gone) is removed when the next
run starts, so re-runs never pile up partial files; nothing else is ever deleted.

Files are created with the usual permissions (``0o666`` minus the umask, like any program's output).
Single files are flushed to disk (``fsync``) before the rename, and the directory after it when
``durable`` (checkpoints, weights), so a crash never leaves a truncated file under the final name.
Frame folders are not fsynced frame by frame (cost); the folder appears only once complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from colormnet.errors import OutputError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

MANIFEST_NAME = ".colormnet-output.json"
"""Written into every output folder: the list of files this program put there. ``--overwrite`` replaces
a folder only when every entry in it is listed; it deletes only the listed files."""

_PARTIAL_MARKER = ".colormnet-partial"
_SHOWN = 10


# -- temporary names ------------------------------------------------------------------------------

def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"


def _temp_tag() -> str:
    return f"{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def _stale_siblings(base: str, suffix: str, directory: Path, kind: str) -> list[Path]:
    """Temporaries ``.<base>.<kind>-HOST-PID-RAND<suffix>`` of this host whose process is gone."""
    pattern = re.compile(rf"^\.{re.escape(base)}\.{kind}-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[0-9a-f]{{6}}"
                         rf"{re.escape(suffix)}$")
    found = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return []
    host = _host_tag()
    for entry in entries:
        m = pattern.match(entry.name)
        if m and m["host"] == host and not _pid_alive(int(m["pid"])):
            found.append(entry)
    return found


def partial_file_path(path: PathLike) -> Path:
    """Temporary sibling of ``path`` that keeps its extension: ``out.mp4`` -> ``.out.partial-HOST-PID-RAND.mp4``.

    The extension is kept so that format detection from the name (FFmpeg, Pillow) still works.
    Stale temporaries of the same output left by a killed process on this host are removed first.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    for stale in _stale_siblings(p.stem, p.suffix, parent, "partial"):
        if stale.is_file() and not stale.is_symlink():
            log.info("removing %s, left behind by an interrupted earlier run", stale)
            remove_quietly(stale)
    return p.with_name(f".{p.stem}.partial-{_temp_tag()}{p.suffix}")


def make_partial_dir(path: PathLike) -> Path:
    """Create and return a fresh temporary sibling directory of ``path`` (with a marker file inside).

    Stale temporary folders of the same output (this host, process gone, marker present: created by
    this module) are removed first.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    for stale in _stale_siblings(p.name, "", parent, "partial"):
        if stale.is_dir() and not stale.is_symlink() and (stale / _PARTIAL_MARKER).is_file():
            log.info("removing %s, left behind by an interrupted earlier run", stale)
            remove_quietly(stale)
    tmp = p.with_name(f".{p.name}.partial-{_temp_tag()}")
    try:
        tmp.mkdir()
        (tmp / _PARTIAL_MARKER).write_text(f"{os.getpid()}\n", encoding="utf-8")
    except OSError as exc:
        remove_quietly(tmp / _PARTIAL_MARKER)
        with contextlib.suppress(OSError):
            tmp.rmdir()
        raise OutputError(f"cannot create a temporary folder next to {p}: {exc.strerror or exc}") from exc
    return tmp


def _files_below(folder: Path) -> list[str]:
    """Relative POSIX paths of every file (and symlink) below ``folder``, without following links."""
    found = []
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]:
            found.append((base / name).as_posix())
    return found


def _remove_listed(folder: Path, listed: set[str]) -> list[str]:
    """Delete the listed regular files of ``folder``, our marker and manifest, then the directories
    that held them once empty, then ``folder`` if empty. Returns what was left (never deleted)."""
    for rel in sorted(listed | {_PARTIAL_MARKER, MANIFEST_NAME}):
        entry = folder / rel
        if entry.is_file() and not entry.is_symlink():
            remove_quietly(entry)
    parents = sorted({(folder / rel).parent for rel in listed}, key=lambda d: len(d.parts), reverse=True)
    for d in parents:
        while d != folder and d.is_relative_to(folder):
            with contextlib.suppress(OSError):
                d.rmdir()
            d = d.parent
    left = sorted(e.name for e in folder.iterdir()) if folder.is_dir() else []
    if not left:
        with contextlib.suppress(OSError):
            folder.rmdir()
    return left


def remove_quietly(path: PathLike | None) -> None:
    """Delete a temporary file, or a temporary folder this module created; log (never raise) on failure.

    A folder with our marker file (made by :func:`make_partial_dir`) is removed with everything in it;
    any other folder only loses its plain files and is removed when that leaves it empty.
    """
    if path is None:
        return
    p = Path(path)
    try:
        if p.is_dir() and not p.is_symlink():
            if (p / _PARTIAL_MARKER).is_file():
                shutil.rmtree(p)
                return
            for entry in p.iterdir():
                if entry.is_file() or entry.is_symlink():
                    entry.unlink()
            p.rmdir()
        elif p.exists() or p.is_symlink():
            p.unlink()
    except OSError as exc:  # pragma: no cover - best effort cleanup
        log.warning("could not remove temporary %s: %s", p, exc)


# -- checks before any work -----------------------------------------------------------------------

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


def read_manifest(folder: PathLike) -> set[str] | None:
    """Names listed in ``folder``'s manifest, or None when it has none (or an unreadable one)."""
    path = Path(folder) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if data.get("tool") != "colormnet" or not isinstance(files, list):
        return None
    return {f for f in files if isinstance(f, str) and f and not f.startswith("/")
            and ".." not in f.split("/") and "\\" not in f}


def write_manifest(folder: PathLike, names: Iterable[str]) -> None:
    """Record ``names`` as the files this program wrote into ``folder``."""
    text = json.dumps({"tool": "colormnet", "files": sorted(names)}, indent=1) + "\n"
    (Path(folder) / MANIFEST_NAME).write_text(text, encoding="utf-8")


def foreign_entries(folder: PathLike) -> list[str]:
    """Files below ``folder`` this program did not write (everything when it has no manifest), as
    relative paths."""
    folder = Path(folder)
    listed = read_manifest(folder) or set()
    foreign = []
    for rel in _files_below(folder):
        if rel in (MANIFEST_NAME, _PARTIAL_MARKER):
            continue
        entry = folder / rel
        if rel in listed and entry.is_file() and not entry.is_symlink():
            continue
        foreign.append(rel)
    for root, dirs, files in os.walk(folder):  # empty folders someone made are not ours either
        if not dirs and not files and Path(root) != folder:
            foreign.append(Path(root).relative_to(folder).as_posix() + "/")
    return sorted(foreign)


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def check_output_path(
    path: PathLike,
    *,
    inputs: Iterable[PathLike | None] = (),
    overwrite: bool = False,
    is_dir: bool = False,
) -> Path:
    """Validate an output path before any work is done; return it as a :class:`Path`.

    Raises :class:`OutputError` when the output is one of ``inputs`` (also through a symlink; for a
    directory output, when it contains one), when it exists and ``overwrite`` is false (an existing
    *empty* directory is accepted for ``is_dir``), when an existing folder holds anything this program
    did not write (even with ``overwrite``), when a file stands where a directory should be (or the
    reverse), or when its parent directory is missing or not writable.
    """
    out = Path(path).expanduser()
    if out.name in ("", ".", ".."):
        raise OutputError(f"output path {str(path)!r} names no file or folder; give a name such as out.mp4")
    for item in inputs:
        if item is None:
            continue
        src = Path(item).expanduser()
        if _same_file(out, src):
            raise OutputError(f"output {out} is the same as the input {src}; choose another output path")
        if is_dir and _is_within(src, out):
            raise OutputError(f"output folder {out} contains the input {src}; choose another output folder")
    if out.is_symlink():
        raise OutputError(f"output {out} is a symbolic link (to {os.readlink(out)}); not replaced. "
                          "Remove the link or choose another path")
    if out.exists():
        if is_dir and not out.is_dir():
            raise OutputError(f"output {out} exists and is not a folder; remove it or choose another path")
        if not is_dir and out.is_dir():
            raise OutputError(f"output {out} is a folder; give a file name instead")
        if is_dir:
            _check_replaceable_dir(out, overwrite)
        elif not overwrite:
            raise OutputError(f"output {out} already exists; pass overwrite (--overwrite) to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"output directory {parent} does not exist; create it first")
    _check_writable(parent)
    return out


def _check_replaceable_dir(out: Path, overwrite: bool) -> None:
    try:
        empty = not any(out.iterdir())
    except OSError as exc:
        raise OutputError(f"cannot read the existing output folder {out}: {exc.strerror or exc}") from exc
    if empty:
        return
    if not overwrite:
        raise OutputError(f"output {out} already exists; pass overwrite (--overwrite) to replace it")
    foreign = foreign_entries(out)
    if foreign:
        raise OutputError(f"output folder {out} holds files colormnet did not write ({_names(foreign)}); "
                          "--overwrite only replaces an earlier colormnet output. Move those files away "
                          "or choose another output folder")


def _check_writable(directory: Path) -> None:
    """Raise :class:`OutputError` unless a file can really be created in ``directory``."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".colormnet-write-test-", dir=directory)
    except OSError as exc:
        raise OutputError(f"output directory {directory} is not writable ({exc.strerror or exc})") from exc
    os.close(fd)
    os.unlink(probe)


# -- writing and committing -----------------------------------------------------------------------

def _fsync_path(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems do not support fsync on directories
        pass
    finally:
        os.close(fd)


def commit_file(tmp: PathLike, final: PathLike, *, overwrite: bool, durable: bool = True) -> Path:
    """Rename the finished temporary file ``tmp`` onto ``final`` (atomic within one file system).

    Re-checks that ``final`` did not appear meanwhile when ``overwrite`` is false. With ``durable``
    the data is flushed to disk before the rename and the directory entry after it.
    """
    tmp, final = Path(tmp), Path(final)
    if (final.exists() and not overwrite) or final.is_symlink() or final.is_dir():
        remove_quietly(tmp)
        raise OutputError(f"output {final} appeared while writing; not replaced (pass overwrite to replace)")
    try:
        if durable:
            _fsync_path(tmp)
        os.replace(tmp, final)
    except OSError as exc:
        remove_quietly(tmp)
        raise OutputError(f"could not move the finished output into place at {final}: {exc}") from exc
    if durable:
        _fsync_path(final.parent if str(final.parent) else Path("."), directory=True)
    return final


def commit_dir(tmp: PathLike, final: PathLike, *, overwrite: bool, written: Iterable[str] | None = None) -> Path:
    """Move the finished temporary directory ``tmp`` to ``final``; returns ``final``.

    ``written``: the files in ``tmp`` (recorded in its manifest; default: every file there). An
    existing ``final`` is replaced only when empty, or with ``overwrite`` when everything in it was
    written by this program (its manifest lists it); the old folder is renamed aside, the new one
    renamed into place, then only the old folder's listed files are deleted.
    """
    tmp, final = Path(tmp), Path(final)
    names = list(written) if written is not None else [
        rel for rel in _files_below(tmp) if rel not in (_PARTIAL_MARKER, MANIFEST_NAME)]
    try:
        write_manifest(tmp, names)
        remove_quietly(tmp / _PARTIAL_MARKER)
    except OSError as exc:
        remove_quietly(tmp)
        raise OutputError(f"could not finish the output folder {final}: {exc.strerror or exc}") from exc
    old: Path | None = None
    if final.exists() or final.is_symlink():
        if not final.is_dir() or final.is_symlink():
            remove_quietly(tmp)
            raise OutputError(f"output {final} exists and is not a folder; not replaced")
        try:
            _check_replaceable_dir(final, overwrite)
        except OutputError as exc:
            remove_quietly(tmp)
            raise OutputError(f"{exc} (it changed while writing; nothing was replaced)") from None
        old = final.with_name(f".{final.name}.old-{_temp_tag()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError as exc:
        if old is not None:
            os.replace(old, final)
        remove_quietly(tmp)
        raise OutputError(f"could not move the finished folder into place at {final}: {exc}") from exc
    if old is not None:
        left = _remove_listed(old, read_manifest(old) or set())
        if left:
            log.warning("kept %s: it holds files colormnet did not write (%s)", old, _names(sorted(left)))
    return final


class AtomicFile:
    """``with AtomicFile(path) as f: f.write(...)``: write a temporary sibling, rename onto ``path`` on
    success; on any exception (KeyboardInterrupt included) delete it and leave ``path`` as it was.

    mode: "wb" or "w" (UTF-8 text). ``durable``: fsync the data and the directory entry. The file gets
    the usual permissions (0o666 minus the umask). ``overwrite``: replace an existing ``path``.
    """

    def __init__(self, path: PathLike, mode: str = "wb", *, durable: bool = True, overwrite: bool = True) -> None:
        if mode not in ("wb", "w"):
            raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
        self.path, self.mode, self.durable, self.overwrite = Path(path), mode, durable, overwrite
        self.tmp: Path | None = None
        self._file: IO[Any] | None = None

    def __enter__(self) -> IO[Any]:
        self.tmp = partial_file_path(self.path)
        try:
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as exc:
            raise OutputError(f"cannot write in {self.path.parent}: {exc.strerror or exc}") from exc
        text = {} if "b" in self.mode else {"encoding": "utf-8", "newline": ""}
        self._file = os.fdopen(fd, self.mode, **text)
        return self._file

    def __exit__(self, exc_type, exc, tb) -> None:
        f, self._file = self._file, None
        if exc_type is not None:
            with contextlib.suppress(OSError):
                f.close()
            remove_quietly(self.tmp)
            return
        try:
            f.flush()
            if self.durable:
                os.fsync(f.fileno())
            f.close()
        except OSError as exc:
            with contextlib.suppress(OSError):
                f.close()
            remove_quietly(self.tmp)
            raise OutputError(f"writing {self.path} failed: {exc.strerror or exc}") from exc
        commit_file(self.tmp, self.path, overwrite=self.overwrite, durable=self.durable)


def atomic_write(path: PathLike, write: Callable[[IO[Any]], Any], binary: bool = True, *,
                 durable: bool = True) -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it onto ``path``
    (see :class:`AtomicFile`). On any error ``path`` is left as it was and no temporary remains."""
    with AtomicFile(path, "wb" if binary else "w", durable=durable) as f:
        write(f)
    return Path(path)


def atomic_write_text(path: PathLike, text: str, *, durable: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text), binary=False, durable=durable)


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
