"""The web app's job runner (no Gradio): exemplar fields, frame archives, progress, cancel, cleanup."""

from __future__ import annotations

import io
import tarfile
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from colormnet.api import colorize_video, report_path
from colormnet.errors import InputError
from colormnet.io.frames import list_frames
from colormnet.io.video import probe
from colormnet.ui.jobs import (
    Job,
    JobState,
    describe_report,
    extract_frames,
    format_duration,
    load_exemplars,
    parse_exemplar_frames,
    read_report,
)
from tests.media import make_gray_clip


def _png_bytes(value: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((6, 8), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_exemplar_frame_field():
    assert parse_exemplar_frames("0, 120, -", 3) == [0, 120, None]
    assert parse_exemplar_frames("", 2) == [None, None]
    assert parse_exemplar_frames("5", 2) == [5, None]
    with pytest.raises(InputError, match="2 frame numbers were given for 1 exemplar;"):
        parse_exemplar_frames("0, 1", 1)
    with pytest.raises(InputError, match="'x1' is not a frame number"):
        parse_exemplar_frames("x1", 1)


def test_bad_exemplar_message_names_the_uploaded_file(tmp_path):
    bad = tmp_path / "upload123" / "holiday.png"
    bad.parent.mkdir()
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError) as err:
        load_exemplars([bad], "0")
    assert "holiday.png" in str(err.value) and "upload123" not in str(err.value)
    with pytest.raises(InputError, match="no exemplar given"):
        load_exemplars([], "0")


def test_zip_and_tar_frames_flattened_in_natural_order(tmp_path):
    zpath = tmp_path / "clip.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for i in (10, 2, 1):
            zf.writestr(f"clip/f{i}.png", _png_bytes(i))
        zf.writestr("clip/.DS_Store", b"x")
        zf.writestr("__MACOSX/._f1.png", b"x")
        zf.writestr("clip/notes.txt", b"ignored")
    folder = extract_frames(zpath, tmp_path / "z")
    assert [p.name for p in list_frames(folder)] == ["f1.png", "f2.png", "f10.png"]
    assert np.asarray(Image.open(folder / "f10.png")).max() == 10

    tpath = tmp_path / "clip.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        data = _png_bytes(7)
        info = tarfile.TarInfo("a/0.png")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    assert [p.name for p in (extract_frames(tpath, tmp_path / "t")).iterdir()] == ["0.png"]


@pytest.mark.parametrize("member, message", [("../evil.png", "unsafe path"), ("notes.txt", "no frame images")])
def test_archive_problems_are_input_errors(tmp_path, member, message):
    zpath = tmp_path / "bad.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr(member, _png_bytes(1))
    with pytest.raises(InputError, match=message):
        extract_frames(zpath, tmp_path / "out", "upload.zip")
    assert not (tmp_path / "evil.png").exists()
    (tmp_path / "junk.zip").write_bytes(b"PK not really")
    with pytest.raises(InputError, match="junk.zip cannot be read"):
        extract_frames(tmp_path / "junk.zip", tmp_path / "out2")


def test_progress_text():
    assert JobState("running", done=12, total=48, elapsed=4.0).describe() == \
        "Frame 12 of 48 · 3.00 frames/s · about 0:12 left"
    assert JobState("error", message="exemplar x.png is not an image").describe() == \
        "Error: exemplar x.png is not an image"
    assert JobState("done", done=8, total=8, elapsed=3725).describe().startswith("Done: 8 frames in 1:02:05")
    assert format_duration(59.6) == "1:00"


def _report(mode="reset", cuts=(20,), detector=True, suggestions=()):
    return {"scene_cut_mode": mode, "scene_cuts": list(cuts), "scene_detector": {"detector": "x"} if detector else None,
            "confidence": {"low_confidence_threshold": 0.5, "mean": 0.4567},
            "would_benefit_from_exemplar": list(suggestions)}


def test_run_report_text():
    shot = {"index": 1, "first_frame": 20, "last_frame": 39, "mean_confidence": 0.3123,
            "suggested_exemplar_frame": 25, "low_frames": [[20, 30], [33, 33]]}
    text = describe_report(_report(suggestions=[shot]))
    assert text.split("\n\n") == [
        "**Scene cuts** at frame 20 (memory reset there).",
        "**Frames that would benefit from an exemplar** (shots whose mean confidence is below 0.5; the whole run's "
        "is 0.46):",
        "- shot 1: frames 20-39, mean confidence 0.31; colour frame **25** (low: 20-30, 33)"]
    assert describe_report(_report("report", cuts=(5, 9))).startswith(
        "**Scene cuts** at frames 5, 9 (reported only).\n\n**Confidence:** every shot's mean confidence is at "
        "least 0.5; the whole run's is 0.46; no exemplar needed.")
    assert describe_report(_report(cuts=())).startswith("**Scene cuts:** none found.")
    assert describe_report(_report("off", cuts=(), detector=False)).startswith("**Scene cuts:** off.")
    assert "PySceneDetect is not installed" in describe_report(_report("report", cuts=(), detector=False))
    assert describe_report(None).startswith("(No run report")


def test_run_report_text_from_a_real_report(tiny_model, tmp_path):
    """The keys the page reads are the ones colorize_video writes."""
    clip = make_gray_clip(tmp_path / "clip.mp4", n=4, w=40, h=24)
    ref = tmp_path / "ref.png"
    Image.fromarray(np.full((24, 40, 3), 128, np.uint8)).save(ref)
    out = colorize_video(clip, [f"{ref}@0"], tmp_path / "out.mp4", model=tiny_model, device="cpu", progress=False,
                         scene_cuts="off", low_confidence=1.01, report=True)
    report = read_report(report_path(out))
    text = describe_report(report)
    assert text.startswith("**Scene cuts:** off.\n\n**Frames that would benefit from an exemplar** (shots whose "
                           f"mean confidence is below 1.01; the whole run's is {report['confidence']['mean']:.2f}):")
    assert "- shot 0: frames 0-3," in text
    assert read_report(tmp_path / "missing.json") is None


@pytest.fixture()
def clip(tmp_path):
    return make_gray_clip(tmp_path / "clip.mp4", n=10, w=40, h=24, fps=10)


def _work(tiny_model, clip, ref, out):
    def work(on_frame):
        return colorize_video(clip, [f"{ref}@0"], out, model=tiny_model, device="cpu", progress=False,
                              on_frame=on_frame)
    return work


def test_job_runs_with_previews_and_progress(tiny_model, clip, tmp_path):
    ref = tmp_path / "ref.png"
    Image.fromarray(np.dstack([np.full((24, 40), v, np.uint8) for v in (200, 80, 40)])).save(ref)
    workdir = tmp_path / "job"
    workdir.mkdir()
    job = Job(_work(tiny_model, clip, ref, workdir / "out.mp4"), workdir, threading.Lock(), total=10).start()
    seen = []
    while not (state := job.wait(5.0)).finished:
        seen.append(state.done)
    assert state.state == "done", state.message
    assert probe(state.output).num_frames == 10 and state.done == 10
    assert len(state.previews) == 8 and all(p.is_file() for p in state.previews)
    preview = np.asarray(Image.open(state.previews[0])).astype(int)
    assert preview[..., 0].mean() > preview[..., 2].mean() + 20  # frame 0 carries the reddish exemplar
    assert seen == sorted(seen)
    job.discard()
    assert not workdir.exists()


def test_cancel_stops_and_leaves_no_output(tiny_model, clip, tmp_path):
    ref = tmp_path / "ref.png"
    Image.fromarray(np.dstack([np.full((24, 40), v, np.uint8) for v in (40, 90, 200)])).save(ref)
    workdir = tmp_path / "job"
    workdir.mkdir()
    lock = threading.Lock()
    job = Job(_work(tiny_model, clip, ref, workdir / "out.mp4"), workdir, lock, total=10)
    original = job._on_frame

    def cancel_at_3(done, total, rgb):
        if done == 3:
            job.cancel()
        original(done, total, rgb)

    job._on_frame = cancel_at_3
    job.start()
    job.join(60)
    state = job.state
    assert state.state == "cancelled" and state.done == 3 and state.output is None
    assert state.describe() == "Cancelled after 3 of 10 frames; nothing was kept."
    assert not [p for p in workdir.iterdir() if p.suffix == ".mp4"]
    assert not lock.locked()


def test_one_job_at_a_time_per_device(tmp_path):
    lock = threading.Lock()
    release = threading.Event()
    order = []

    def work(name):
        def run(on_frame):
            order.append(f"{name} start")
            release.wait(10)
            order.append(f"{name} end")
            return tmp_path
        return run

    first = Job(work("a"), tmp_path, lock).start()
    second = Job(work("b"), tmp_path, lock).start()
    assert second.wait(0.3).state == "queued" and second.state.describe().startswith("Waiting for the device")
    release.set()
    first.join(10)
    second.join(10)
    assert order == ["a start", "a end", "b start", "b end"]


def test_closing_a_session_keeps_uploads_another_session_shares(tmp_path):
    pytest.importorskip("gradio")
    from colormnet.ui.app import UISession

    shared = tmp_path / "abc123" / "clip.mp4"  # Gradio keeps one copy of identical uploads
    own = tmp_path / "def456" / "ref.png"
    for p in (shared, own):
        p.parent.mkdir()
        p.write_bytes(b"x")
    first, second = UISession(tmp_path / "s1"), UISession(tmp_path / "s2")
    first.uploads, second.uploads = {shared, own}, {shared}
    first.new_workdir()
    first.close(tmp_path, in_use=second.uploads)
    assert shared.exists() and not own.exists() and not (tmp_path / "s1").exists()
    second.close(tmp_path)
    assert not shared.exists()
