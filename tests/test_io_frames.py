"""Frame folders: natural order, validation, lazy reading, atomic writing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colormnet.errors import InputError, OutputError
from colormnet.io import FrameFolderReader, FrameFolderWriter, list_frames, natural_key
from colormnet.io.atomic import MANIFEST_NAME, read_manifest


def _save(path: Path, value: int, size: tuple[int, int] = (8, 6), mode: str = "L") -> None:
    w, h = size
    arr = np.full((h, w), value, np.uint8) if mode == "L" else np.full((h, w, 3), value, np.uint8)
    Image.fromarray(arr).save(path)


def test_natural_sort_order(tmp_path: Path) -> None:
    names = ["10.png", "2.png", "1.png", "frame_100.JPG", "frame_20.jpg", "a.webp", "B.bmp", "00003.tif"]
    for i, n in enumerate(names):
        _save(tmp_path / n, i)
    got = [p.name for p in list_frames(tmp_path)]
    assert got == ["1.png", "2.png", "00003.tif", "10.png", "a.webp", "B.bmp",
                   "frame_20.jpg", "frame_100.JPG"]
    assert sorted(["x10", "x9", "x09b", "X1"], key=natural_key) == ["X1", "x9", "x09b", "x10"]


def test_hidden_files_and_subfolders_ignored(tmp_path: Path) -> None:
    _save(tmp_path / "0.png", 0)
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "._0.png").write_bytes(b"junk")
    (tmp_path / "sub").mkdir()
    (tmp_path / "Thumbs.db").write_bytes(b"junk")
    assert [p.name for p in list_frames(tmp_path)] == ["0.png"]


def test_non_image_files_are_reported(tmp_path: Path) -> None:
    _save(tmp_path / "0.png", 0)
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "clip.mp4").write_bytes(b"x")
    with pytest.raises(InputError) as err:
        list_frames(tmp_path)
    assert "notes.txt" in str(err.value) and "clip.mp4" in str(err.value)


def test_empty_missing_and_file_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no frame images"):
        list_frames(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        FrameFolderReader(tmp_path / "missing")
    f = tmp_path / "file.png"
    _save(f, 1)
    with pytest.raises(InputError, match="not a folder"):
        list_frames(f)


def test_reader_yields_rgb_lazily(tmp_path: Path) -> None:
    for i in range(12):
        _save(tmp_path / f"{i}.png", 10 * i)
    reader = FrameFolderReader(tmp_path)
    assert len(reader) == 12 and reader.size == (8, 6)
    assert reader.names[:3] == ["0.png", "1.png", "2.png"] and reader.names[-1] == "11.png"
    it = iter(reader)
    first = next(it)
    assert first.shape == (6, 8, 3) and first.dtype == np.uint8 and first.max() == 0
    values = [int(f[0, 0, 0]) for f in it]
    assert values == [10 * i for i in range(1, 12)]
    names, frames = zip(*reader.items(), strict=True)
    assert names[5] == "5.png" and int(frames[5][2, 3, 1]) == 50


def test_mixed_sizes_rejected(tmp_path: Path) -> None:
    _save(tmp_path / "0.png", 0, (8, 6))
    _save(tmp_path / "1.png", 0, (8, 6))
    _save(tmp_path / "2.png", 0, (9, 6))
    with pytest.raises(InputError) as err:
        FrameFolderReader(tmp_path)
    msg = str(err.value)
    assert "2.png" in msg and "9x6" in msg and "8x6" in msg
    reader = FrameFolderReader(tmp_path, check_sizes=False)  # reported lazily when reached
    it = iter(reader)
    next(it), next(it)
    with pytest.raises(InputError, match="2.png"):
        next(it)


def test_corrupt_frame_named(tmp_path: Path) -> None:
    _save(tmp_path / "0.png", 0)
    (tmp_path / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(InputError, match="1.png"):
        FrameFolderReader(tmp_path)


def test_writer_roundtrip_and_names(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        _save(src / f"{i:05d}.jpg", 40 * i, mode="RGB")
    out = tmp_path / "out"
    rng = np.random.default_rng(0)
    written = []
    with FrameFolderWriter(out, inputs=[src]) as w:
        for name in FrameFolderReader(src).names:
            arr = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
            written.append(arr)
            w.write(arr, name)
        assert not out.exists()  # nothing visible before close
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, "00000.png", "00001.png", "00002.png"]
    assert read_manifest(out) == {"00000.png", "00001.png", "00002.png"}
    for arr, p in zip(written, list_frames(out), strict=True):
        assert np.array_equal(np.asarray(Image.open(p)), arr)  # PNG is lossless
    assert sorted(os.listdir(tmp_path)) == ["in", "out"]  # no temporary folder left


def test_writer_default_names_and_gray(tmp_path: Path) -> None:
    with FrameFolderWriter(tmp_path / "o") as w:
        w.write(np.zeros((4, 5), np.uint8))
        w.write(np.ones((4, 5, 3), np.uint8))
        with pytest.raises(ValueError):
            w.write(np.zeros((4, 5, 3), np.float32))
        with pytest.raises(ValueError, match="twice"):
            w.write(np.zeros((4, 5), np.uint8), "00001.png")
    assert sorted(os.listdir(tmp_path / "o")) == [MANIFEST_NAME, "00000.png", "00001.png"]


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_writer_exception_leaves_no_target(tmp_path: Path, exc_type) -> None:
    with pytest.raises(exc_type), FrameFolderWriter(tmp_path / "o") as w:
        w.write(np.zeros((4, 5, 3), np.uint8))
        raise exc_type("boom")
    assert os.listdir(tmp_path) == []


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((4, 5, 3), i, np.uint8) for i in range(n)]


def test_writer_overwrite_rules(tmp_path: Path) -> None:
    target = tmp_path / "o"
    with FrameFolderWriter(target) as w:  # an earlier colormnet output: 3 frames
        for f in _frames(3):
            w.write(f)
    with pytest.raises(OutputError, match="already exists"):
        FrameFolderWriter(target)
    # a failed overwrite keeps the old contents
    with pytest.raises(RuntimeError), FrameFolderWriter(target, overwrite=True) as w:
        w.write(np.zeros((4, 5, 3), np.uint8))
        raise RuntimeError
    assert sorted(os.listdir(target)) == [MANIFEST_NAME, "00000.png", "00001.png", "00002.png"]
    with FrameFolderWriter(target, overwrite=True) as w:  # fewer frames: the old extra ones go too
        w.write(np.full((4, 5, 3), 9, np.uint8))
    assert sorted(os.listdir(target)) == [MANIFEST_NAME, "00000.png"]
    assert np.asarray(Image.open(target / "00000.png"))[0, 0, 0] == 9
    assert sorted(os.listdir(tmp_path)) == ["o"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with FrameFolderWriter(empty) as w:  # an existing empty folder is fine
        w.write(np.zeros((4, 5, 3), np.uint8))
    assert sorted(os.listdir(empty)) == [MANIFEST_NAME, "00000.png"]


@pytest.mark.parametrize("foreign", ["thesis.txt", "sub/photo.jpg", "00007.png", "no_manifest", "emptydir/"])
def test_overwrite_never_touches_files_it_did_not_write(tmp_path: Path, foreign: str) -> None:
    """Issue 9.1: --overwrite on a folder holding anything colormnet did not write is refused (naming
    it) and nothing there is deleted; a folder without a manifest is not ours at all."""
    target = tmp_path / "mydocs"
    with FrameFolderWriter(target) as w:
        for f in _frames(2):
            w.write(f)
    if foreign == "no_manifest":
        (target / MANIFEST_NAME).unlink()
        named = "00000.png"
    elif foreign.endswith("/"):
        (target / foreign).mkdir()
        named = foreign
    else:
        (target / foreign).parent.mkdir(exist_ok=True)
        (target / foreign).write_bytes(b"precious")
        named = foreign
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    with pytest.raises(OutputError, match=f"did not write.*{named}"):
        FrameFolderWriter(target, overwrite=True)
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before and sorted(os.listdir(tmp_path)) == ["mydocs"]
    assert foreign != "emptydir/" or (target / "emptydir").is_dir()


def test_nested_output_folder_is_replaced_only_in_what_it_wrote(tmp_path: Path) -> None:
    """commit_dir records nested files too (study folders: media/g01/...); an overwrite removes
    exactly them and their now-empty folders."""
    from colormnet.io.atomic import commit_dir, make_partial_dir

    target = tmp_path / "study"
    for round_ in range(2):
        tmp = make_partial_dir(target)
        (tmp / "media" / "g1").mkdir(parents=True)
        (tmp / "media" / "g1" / f"clip{round_}.mp4").write_bytes(b"v")
        (tmp / "study.json").write_text("{}")
        commit_dir(tmp, target, overwrite=True)
        assert read_manifest(target) == {"study.json", f"media/g1/clip{round_}.mp4"}
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        MANIFEST_NAME, "media", "media/g1", "media/g1/clip1.mp4", "study.json"]
    assert sorted(os.listdir(tmp_path)) == ["study"]


def test_foreign_file_appearing_during_the_run_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "o"
    with FrameFolderWriter(target) as w:
        w.write(np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(OutputError, match="notes.txt"), FrameFolderWriter(target, overwrite=True) as w:
        w.write(np.ones((4, 5, 3), np.uint8))
        (target / "notes.txt").write_text("written meanwhile")
    assert (target / "notes.txt").read_text() == "written meanwhile"
    assert np.asarray(Image.open(target / "00000.png")).max() == 0  # old output kept
    assert sorted(os.listdir(tmp_path)) == ["o"]


def test_stale_partial_folder_of_a_dead_run_is_cleaned(tmp_path: Path) -> None:
    """Issue 9.2: a temporary folder of a killed run of the same output is removed by the next run;
    one without our marker file, and other outputs' temporaries, are left alone."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    from colormnet.io.atomic import _host_tag

    stale = tmp_path / f".o.partial-{_host_tag()}-{dead}-abcdef"
    stale.mkdir()
    (stale / ".colormnet-partial").write_text(dead)
    (stale / "00000.png").write_bytes(b"x")
    (stale / "nested").mkdir()
    (stale / "nested" / "x.bin").write_bytes(b"x")
    kept = tmp_path / f".o.partial-{_host_tag()}-{dead}-123456"  # no marker: not provably ours
    kept.mkdir()
    (kept / "mine.txt").write_text("not ours")
    other = tmp_path / f".p.partial-{_host_tag()}-{dead}-abcdef"
    other.mkdir()
    (other / ".colormnet-partial").write_text(dead)
    with FrameFolderWriter(tmp_path / "o") as w:
        w.write(np.zeros((4, 5, 3), np.uint8))
    assert sorted(os.listdir(tmp_path)) == [kept.name, other.name, "o"]
    assert (kept / "mine.txt").read_text() == "not ours"


def test_writer_refuses_inputs(tmp_path: Path) -> None:
    src = tmp_path / "frames"
    src.mkdir()
    _save(src / "0.png", 0)
    with pytest.raises(OutputError, match="same as the input"):
        FrameFolderWriter(src, overwrite=True, inputs=[src])
    with pytest.raises(OutputError, match="contains the input"):
        FrameFolderWriter(tmp_path, overwrite=True, inputs=[src])
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        FrameFolderWriter(tmp_path / "afile", overwrite=True)
    with pytest.raises(OutputError, match="does not exist"):
        FrameFolderWriter(tmp_path / "no" / "such")
    assert (src / "0.png").exists()
