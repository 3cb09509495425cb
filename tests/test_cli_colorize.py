"""`colormnet colorize` end to end (tiny model injected) and every bad-input case of the issue."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from skimage import data

from colormnet.cli import main
from colormnet.io.video import probe
from tests.media import make_gray_clip


@pytest.fixture()
def use_tiny(monkeypatch, tiny_model):
    """Make the CLI load the tiny random model instead of the released checkpoint."""
    monkeypatch.setattr("colormnet.api.build_model", lambda *a, **k: tiny_model)
    return tiny_model


@pytest.fixture()
def ref(tmp_path) -> Path:
    p = tmp_path / "ref.png"
    Image.fromarray(data.astronaut()).save(p)
    return p


@pytest.fixture()
def clip(tmp_path) -> Path:
    return make_gray_clip(tmp_path / "clip.mp4", n=8, w=40, h=24, fps=24)


def _no_outputs(folder: Path, keep: set[str]) -> bool:
    return {p.name for p in folder.iterdir()} == keep


def test_success_writes_video(use_tiny, clip, ref, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["colorize", str(clip), "-e", f"{ref}@0", "-e", str(ref), "-o", str(out), "--quiet",
                 "--device", "cpu", "--memory", "low-memory", "--mem-every", "2"]) == 0
    assert probe(out).num_frames == 8 and str(out) in capsys.readouterr().out


def test_help_explains(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["colorize", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in ("IMAGE@N", "free reference", "--max-side", "low-memory", "CC BY-NC-SA"):
        assert word in text


@pytest.mark.parametrize("case", ["missing", "corrupt", "zero_frames"])
def test_bad_video(use_tiny, tmp_path, ref, capsys, case):
    src = tmp_path / "bad.mp4"
    if case == "corrupt":
        src.write_bytes(np.random.default_rng(0).bytes(5000))
    elif case == "zero_frames":
        with av.open(str(src), "w") as c:
            s = c.add_stream("libx264", rate=24)
            s.width, s.height, s.pix_fmt = 32, 16, "yuv420p"
            c.start_encoding()
    assert main(["colorize", str(src), "-e", str(ref), "-o", str(tmp_path / "o.mp4"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.mp4" in err and "Traceback" not in err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("content", [b"not an image at all", b""])
def test_bad_exemplar(use_tiny, clip, tmp_path, capsys, content):
    bad = tmp_path / "ref.png"
    bad.write_bytes(content)
    assert main(["colorize", str(clip), "-e", str(bad), "-o", str(tmp_path / "o.mp4"), "--quiet"]) == 2
    assert "ref.png" in capsys.readouterr().err


def test_missing_exemplar(use_tiny, clip, tmp_path, capsys):
    assert main(["colorize", str(clip), "-e", str(tmp_path / "nope.png"), "--quiet"]) == 2
    assert "nope.png" in capsys.readouterr().err


def test_keyframe_beyond_video(use_tiny, clip, ref, tmp_path, capsys):
    assert main(["colorize", str(clip), "-e", f"{ref}@8", "-o", str(tmp_path / "o.mp4"), "--quiet"]) == 2
    assert "frame 8" in capsys.readouterr().err and not (tmp_path / "o.mp4").exists()


def test_output_equal_to_input(use_tiny, clip, ref, capsys):
    before = clip.read_bytes()
    assert main(["colorize", str(clip), "-e", str(ref), "-o", str(clip), "--overwrite", "--quiet"]) == 2
    assert clip.read_bytes() == before


def test_existing_output_needs_overwrite(use_tiny, clip, ref, tmp_path, capsys):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    assert main(["colorize", str(clip), "-e", str(ref), "-o", str(out), "--quiet"]) == 2
    assert "overwrite" in capsys.readouterr().err and out.read_bytes() == b"keep me"
    assert main(["colorize", str(clip), "-e", str(ref), "-o", str(out), "--quiet", "--overwrite"]) == 0
    assert probe(out).num_frames == 8


def test_unwritable_output_directory(use_tiny, clip, ref, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "dir" / "o.mp4"
    assert main(["colorize", str(clip), "-e", str(ref), "-o", str(out), "--quiet"]) == 2
    assert "dir" in capsys.readouterr().err


def test_folder_mixed_sizes_and_non_images(use_tiny, ref, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(folder / "0.png")
    Image.fromarray(np.zeros((20, 31), np.uint8)).save(folder / "1.png")
    assert main(["colorize", str(folder), "-e", str(ref), "--quiet"]) == 2
    assert "1.png" in capsys.readouterr().err
    (folder / "1.png").unlink()
    (folder / "notes.txt").write_text("hello")
    assert main(["colorize", str(folder), "-e", str(ref), "--quiet"]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert not (tmp_path / "frames_colorized").exists()


def test_bad_memory_flags(use_tiny, clip, ref, capsys):
    assert main(["colorize", str(clip), "-e", str(ref), "--min-mid-term-frames", "12", "--quiet"]) == 2
    assert "min_mid_term_frames" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".mp4", ""])
def test_ctrl_c_leaves_no_output(use_tiny, clip, ref, tmp_path, monkeypatch, suffix, capsys):
    calls = {"n": 0}
    original = type(use_tiny).decode

    def interrupt(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(use_tiny), "decode", interrupt)
    out_dir = tmp_path / "outs"
    out_dir.mkdir()
    out = out_dir / f"o{suffix}"
    assert main(["colorize", str(clip), "-e", str(ref), "-o", str(out), "--quiet"]) == 130
    assert not any(out_dir.iterdir()), list(out_dir.iterdir())  # no final file, no partial leftovers
    assert "interrupted" in capsys.readouterr().err
