"""Frame I/O on worker threads: read ahead (decoding and conversion to RGB) and write behind (encoding),
each through a small bounded queue, so the network never waits on PyAV or the PNG codec.

Both keep the order of the frames, hold at most ``depth`` frames, re-raise a worker's exception in
the calling thread (the same exception object: same type and message, e.g. the reader's
:class:`~colormnet.errors.InputError` for a damaged file) and stop and join their thread when left,
whether normally, on an error, on Ctrl-C or on SIGTERM (which the CLI turns into an exception in the
main thread; Python runs signal handlers only there). The calling thread waits with short timeouts,
so signals are handled promptly while it waits.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_POLL_S = 0.05  # how often a waiting thread checks for a stop request (and the main thread for signals)
_JOIN_S = 10.0  # longest wait for a worker to notice a stop request (it finishes the frame in hand)
_ITEM, _END, _ERROR = "item", "end", "error"


def _join(thread: threading.Thread | None) -> None:
    if thread is None or thread is threading.current_thread():
        return
    thread.join(_JOIN_S)
    if thread.is_alive():  # a daemon thread: it cannot keep the process alive
        log.warning("worker thread %s did not stop within %.0f s", thread.name, _JOIN_S)


def _drain(q: queue.Queue) -> None:
    """Drop everything waiting in ``q`` without blocking."""
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


class ReadAhead(Generic[T]):
    """Iterate ``iterable`` on a worker thread, up to ``depth`` items ahead of the consumer.

    ``with ReadAhead(reader_frames(), depth=3) as frames: for frame in frames: ...``. The iterable is
    iterated (and, if it is a generator, closed) in the worker thread only. Leaving the ``with``
    block early stops the worker and closes the iterable; an exception raised while iterating is
    raised by ``next()`` in the consumer after the items before it.
    """

    def __init__(self, iterable: Iterable[T], depth: int = 3, name: str = "colormnet-reader") -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._iterable = iterable
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._name = name
        self._finished = False

    def _run(self) -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = iter(self._iterable)
            for item in iterator:
                if not self._put((_ITEM, item)):
                    return
            self._put((_END, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put((_ERROR, exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # the consumer already has what matters
                    log.debug("closing the frame source failed: %s", exc)

    def _put(self, entry: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def start(self) -> ReadAhead[T]:
        """Start the worker (done by ``with`` and by the first ``next()``)."""
        if self._thread is None and not self._finished:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        return self

    def __iter__(self) -> ReadAhead[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        self.start()
        while True:
            try:
                kind, value = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self.close()
                    raise RuntimeError(f"{self._name} thread ended without a result") from None
        if kind == _ITEM:
            return value
        self.close()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the worker (it finishes the item in hand), drop what it read ahead, join it."""
        self._finished = True
        self._stop.set()
        _drain(self._queue)
        _join(self._thread)
        self._thread = None

    def __enter__(self) -> ReadAhead[T]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class WriteBehind:
    """Run write calls in order on a worker thread, at most ``depth`` of them pending.

    ``with WriteBehind() as w: w.submit(writer.write, rgb, pts)``. Leaving the block normally waits for
    every pending write and raises the first write's exception, if any; leaving it on an exception
    drops the pending writes. A failed write is also raised by the next :meth:`submit`; nothing is
    written after it.
    """

    def __init__(self, depth: int = 3, name: str = "colormnet-writer") -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple] | None] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                task = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if task is None:
                return
            fn, args = task
            try:
                fn(*args)
            except BaseException as exc:  # raised in the submitting thread
                self._error = exc
                return

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._stop.set()
            raise error

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` after the calls already queued (waits while ``depth`` are pending)."""
        if not self._started:
            self._thread.start()
            self._started = True
        self._put((fn, args))

    def _put(self, task: tuple[Callable[..., Any], tuple] | None) -> None:
        while True:
            self._raise_error()
            if not self._thread.is_alive():
                raise RuntimeError(f"{self._thread.name} thread is not running")
            try:
                self._queue.put(task, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every queued call has run; raise the first failure."""
        if self._started and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the worker ended meanwhile: its error follows
                self._put(None)
            while self._thread.is_alive():
                self._thread.join(_POLL_S)
        self._raise_error()

    def abort(self) -> None:
        """Drop the pending calls (the one running finishes) and join the worker."""
        self._stop.set()
        _drain(self._queue)
        if self._started:
            _join(self._thread)

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type: type | None, *exc: object) -> None:
        if exc_type is None:
            try:
                self.finish()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()
