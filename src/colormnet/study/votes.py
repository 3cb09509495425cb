"""The observers' choices: an append-only JSON Lines file, one vote per observer and group.

Each vote is one line written with a single ``write`` on a file opened with ``O_APPEND`` while an
exclusive ``flock`` is held, so concurrent servers (or threads) never interleave or double-count;
before appending, the lines other writers added are read, so the one-vote rule holds across them.
A line cut short by a crash is skipped (and reported) when reading.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one server process only
    fcntl = None

log = logging.getLogger(__name__)

OBSERVER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def read_votes(path: str | Path) -> list[dict]:
    """Every complete vote of ``path`` (missing file: none). Malformed lines are skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    votes = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                vote = json.loads(raw)
                if not isinstance(vote, dict) or not {"observer", "group", "method"} <= vote.keys():
                    raise ValueError("missing keys")
            except ValueError:
                log.warning("%s line %d is not a complete vote; skipped", path, n)
                continue
            votes.append(vote)
    return votes


class VoteLog:
    """Append-only vote file with the one-vote-per-observer-and-group rule."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._offset = 0
        self._voted: dict[str, set[str]] = {}
        with self._lock:
            self._catch_up()

    def _catch_up(self) -> None:
        """Read the complete lines appended since the last look (by us or another process)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line without its newline is still being written (or was cut)
        for raw in data[:end].splitlines():
            try:
                vote = json.loads(raw)
                self._voted.setdefault(str(vote["observer"]), set()).add(str(vote["group"]))
            except (ValueError, KeyError, TypeError):
                continue
        self._offset += end

    @contextmanager
    def _exclusive(self):
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                self._catch_up()
                yield fd
            finally:
                os.close(fd)  # also releases the flock

    def groups_voted(self, observer: str) -> set[str]:
        """The groups ``observer`` has already judged."""
        with self._lock:
            self._catch_up()
            return set(self._voted.get(observer, ()))

    def add(self, vote: dict) -> bool:
        """Append ``vote`` (needs ``observer``, ``group``, ``method``); False when that observer already
        voted on that group (nothing is written)."""
        observer, group = str(vote["observer"]), str(vote["group"])
        line = (json.dumps(vote, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with self._exclusive() as fd:
            if group in self._voted.get(observer, set()):
                return False
            written = os.write(fd, line)
            if written != len(line):  # pragma: no cover - disk full: do not leave half a vote behind
                raise OSError(f"short write to {self.path} ({written} of {len(line)} bytes)")
            os.fsync(fd)
            self._offset += len(line)
            self._voted.setdefault(observer, set()).add(group)
        return True
