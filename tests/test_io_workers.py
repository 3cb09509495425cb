"""Decoding and encoding on worker threads (colormnet.io.workers and colorize_video's io_threads): same
output, order kept, bounded, errors raised in the caller unchanged, threads stopped on every exit."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image
from skimage import data

from colormnet.api import colorize_video
from colormnet.errors import InputError, OutputError
from colormnet.inference.engine import ColorizeOptions, iter_colorize
from colormnet.inference.exemplars import Exemplar
from colormnet.io.video import VideoReader
from colormnet.io.workers import ReadAhead, WriteBehind
from tests.media import make_gray_clip


def _workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("colormnet-")]


def test_read_ahead_keeps_order_and_bounds_what_it_holds():
    produced = []

    def source():
        for i in range(20):
            produced.append(i)
            yield i

    got = []
    with ReadAhead(source(), depth=3) as frames:
        for i in frames:
            time.sleep(0.002 if i % 5 else 0.05)  # give the reader time to fill its queue
            got.append(i)
            # in the queue (3) + the one it holds waiting for room (1) + the one being consumed
            assert len(produced) - len(got) <= 4
    assert got == list(range(20))
    assert _workers() == []


def test_read_ahead_error_reaches_the_caller_after_the_frames_before_it():
    def source():
        yield 0
        yield 1
        raise InputError("clip.mp4: decoding failed after 2 frames (Invalid data)")

    got = []
    reader = ReadAhead(source(), depth=2)
    with pytest.raises(InputError, match=r"^clip.mp4: decoding failed after 2 frames \(Invalid data\)$"), reader:
        for i in reader:
            got.append(i)
    assert got == [0, 1]
    assert _workers() == []


def test_read_ahead_stops_and_closes_the_source_when_left_early():
    closed = threading.Event()

    def source():
        try:
            yield from range(1000)
        finally:
            closed.set()

    with ReadAhead(source(), depth=2) as frames:
        assert next(frames) == 0
        assert next(frames) == 1
    assert closed.is_set() and _workers() == []
    with pytest.raises(KeyboardInterrupt), ReadAhead(source(), depth=2) as frames:  # Ctrl-C in the consumer
        next(frames)
        raise KeyboardInterrupt
    assert _workers() == []


def test_write_behind_keeps_order_and_raises_a_failed_write():
    written = []
    with WriteBehind(depth=2) as w:
        for i in range(10):
            w.submit(written.append, i)
    assert written == list(range(10)) and _workers() == []

    def write(i):
        if i == 3:
            raise OutputError("writing frame 3 to out.mp4 failed: No space left on device")
        written.append(i)

    written.clear()
    message = "^writing frame 3 to out.mp4 failed: No space left on device$"
    with pytest.raises(OutputError, match=message), WriteBehind(depth=2) as w:
        for i in range(50):
            w.submit(write, i)
    assert written == [0, 1, 2]  # nothing after the failed write
    assert _workers() == []


def test_write_behind_drops_pending_writes_on_an_exception():
    written = []

    def slow(i):
        time.sleep(0.02)
        written.append(i)

    with pytest.raises(KeyboardInterrupt), WriteBehind(depth=3) as w:
        for i in range(5):
            w.submit(slow, i)
        raise KeyboardInterrupt
    assert len(written) < 5 and written == list(range(len(written)))
    assert _workers() == []


@pytest.fixture(scope="module")
def exemplar(tmp_path_factory):
    path = tmp_path_factory.mktemp("ex") / "ref.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def test_colorize_same_output_with_and_without_io_threads(tiny_model, tmp_path, exemplar):
    clip = make_gray_clip(tmp_path / "in.mp4", n=9, w=48, h=32, fps=24)
    outs = {}
    for threads in (True, False):
        out = colorize_video(clip, [f"{exemplar}@0"], tmp_path / f"out-{threads}.mp4", model=tiny_model,
                             device="cpu", progress=False, confidence=tmp_path / f"conf-{threads}",
                             io_threads=threads)
        with VideoReader(out) as reader:
            outs[threads] = [(f.pts, f.rgb) for f in reader]
        conf = sorted((tmp_path / f"conf-{threads}").glob("*.png"))
        outs[threads, "conf"] = [np.asarray(Image.open(p)) for p in conf]
    assert len(outs[True]) == 9 and len(outs[True, "conf"]) == 9
    for (pts_a, a), (pts_b, b) in zip(outs[True], outs[False], strict=True):
        assert pts_a == pts_b
        np.testing.assert_array_equal(a, b)
    for a, b in zip(outs[True, "conf"], outs[False, "conf"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert _workers() == []


def test_colorize_bad_frame_same_error_with_and_without_io_threads(tiny_model, tmp_path, exemplar):
    src = tmp_path / "frames"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).save(src / f"{i}.png")
    raw = (src / "3.png").read_bytes()
    (src / "3.png").write_bytes(raw[:len(raw) // 2])  # header intact, pixel data cut: fails when decoded
    messages = {}
    for threads in (True, False):
        out = tmp_path / f"out-{threads}"
        with pytest.raises(InputError) as err:
            colorize_video(src, [f"{exemplar}@0"], out, model=tiny_model, device="cpu", progress=False,
                           io_threads=threads)
        messages[threads] = str(err.value)
        assert not out.exists() and not [p for p in tmp_path.iterdir() if "partial" in p.name]
    assert messages[True] == messages[False]
    assert "3.png could not be decoded" in messages[True]
    assert _workers() == []


def test_engine_output_thread_same_results_in_order(tiny_model):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (30, 40), dtype=np.uint8) for _ in range(7)]
    exemplars = [Exemplar(data.astronaut(), 0, "astro"), Exemplar(data.coffee(), 4, "coffee")]
    runs = {}
    for threaded in (True, False):
        hooked = []
        options = ColorizeOptions(max_side=0, output_thread=threaded)
        runs[threaded] = list(iter_colorize(tiny_model, frames, exemplars, options,
                                            on_frame=lambda t, r, h=hooked: h.append((t, r))))
        assert [t for t, _ in hooked] == list(range(7))
        assert all(r is runs[threaded][t] for t, r in hooked)  # the hook sees what is yielded, in order
    for a, b in zip(runs[True], runs[False], strict=True):
        assert a.info == b.info
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.ab, b.ab)
        np.testing.assert_array_equal(a.confidence, b.confidence)
    # leaving early (the consumer stops, e.g. a cancelled run) stops the worker
    results = iter_colorize(tiny_model, frames, exemplars, ColorizeOptions(max_side=0))
    next(results)
    assert any(name.startswith("colormnet-output") for name in _workers())
    results.close()
    assert _workers() == []
