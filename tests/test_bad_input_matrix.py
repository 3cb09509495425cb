"""The bad-input matrix of ``colormnet colorize`` (issue 9): every case exits with the documented code,
prints a message naming the file or flag, shows no traceback, and changes no file (inputs and an
unrelated sentinel tree are hashed before and after). The media cases (truncated, audio-only,
1-frame, 10-bit, 4:4:4, interlaced, ...) live in ``tests/test_bad_input_media.py``.

Cases run in-process with the tiny random model injected (no weights needed); the full-disk case runs
a child process under ``RLIMIT_FSIZE``.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from colormnet.cli import main
from tests.media import make_gray_clip

REPO = Path(__file__).resolve().parents[1]


# -- the world every case starts from ---------------------------------------------------------------

@pytest.fixture()
def world(tmp_path: Path) -> Path:
    return make_world(tmp_path)


def make_world(tmp_path: Path) -> Path:
    """tmp/clip.mp4 (8 frames 40x24), tmp/ref.png, tmp/frames/{0,1,2}.png, tmp/sentinel/ (unrelated files)."""
    make_gray_clip(tmp_path / "clip.mp4", n=8, w=40, h=24, fps=24)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)).save(tmp_path / "ref.png")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((24, 40), 40 * i + 20, np.uint8)).save(frames / f"{i}.png")
    sentinel = tmp_path / "sentinel"
    (sentinel / "sub").mkdir(parents=True)
    (sentinel / "notes.txt").write_text("do not touch")
    (sentinel / "sub" / "photo.jpg").write_bytes(rng.bytes(300))
    return tmp_path


def _tree_hashes(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link->" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height (the pixel data is a stub): enough for Pillow to refuse
    it by size without anyone allocating the pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


# -- the cases --------------------------------------------------------------------------------------
# setup(world) prepares extra files and returns argv (after "colorize"); paths are relative to world.

@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path], list[str]]
    code: int
    message: str  # substring of stderr (names the file or the flag)
    tiny: bool = True  # inject the tiny model (False: the real weight lookup runs)


def _w(*parts: str) -> Callable[[Path], list[str]]:
    """argv with {w} replaced by the world folder."""
    return lambda w: [p.format(w=w) for p in parts]


def _corrupt_video(w: Path) -> list[str]:
    (w / "bad.mp4").write_bytes(np.random.default_rng(1).bytes(5000))
    return [str(w / "bad.mp4"), "-e", str(w / "ref.png"), "-o", str(w / "out.mp4")]


def _empty_file_video(w: Path) -> list[str]:
    (w / "empty.mp4").write_bytes(b"")
    return [str(w / "empty.mp4"), "-e", str(w / "ref.png"), "-o", str(w / "out.mp4")]


def _zero_frame_video(w: Path) -> list[str]:
    with av.open(str(w / "noframes.mp4"), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 32, 16, "yuv420p"
        c.start_encoding()
    return [str(w / "noframes.mp4"), "-e", str(w / "ref.png"), "-o", str(w / "out.mp4")]


def _bad_exemplar(content: bytes, name: str = "badref.png") -> Callable[[Path], list[str]]:
    def setup(w: Path) -> list[str]:
        (w / name).write_bytes(content)
        return [str(w / "clip.mp4"), "-e", str(w / name), "-o", str(w / "out.mp4")]
    return setup


def _huge_exemplar(w: Path) -> list[str]:
    _png_header_only(w / "huge.png", 30000, 20000)  # 600 MP: far past 8K, refused before decoding
    return [str(w / "clip.mp4"), "-e", str(w / "huge.png"), "-o", str(w / "out.mp4")]


def _existing_output(w: Path) -> list[str]:
    (w / "sentinel" / "out.mp4").write_bytes(b"an older file")
    return [str(w / "clip.mp4"), "-e", str(w / "ref.png"), "-o", str(w / "sentinel" / "out.mp4")]


def _foreign_folder_overwrite(w: Path) -> list[str]:
    return [str(w / "frames"), "-e", str(w / "ref.png"), "-o", str(w / "sentinel"), "--overwrite"]


def _symlink_to_input(w: Path) -> list[str]:
    (w / "link.mp4").symlink_to(w / "clip.mp4")
    return [str(w / "clip.mp4"), "-e", str(w / "ref.png"), "-o", str(w / "link.mp4"), "--overwrite"]


def _symlink_elsewhere(w: Path) -> list[str]:
    (w / "link.mp4").symlink_to(w / "sentinel" / "notes.txt")
    return [str(w / "clip.mp4"), "-e", str(w / "ref.png"), "-o", str(w / "link.mp4"), "--overwrite"]


def _output_folder_is_file(w: Path) -> list[str]:
    return [str(w / "frames"), "-e", str(w / "ref.png"), "-o", str(w / "sentinel" / "notes.txt"), "--overwrite"]


def _output_file_is_folder(w: Path) -> list[str]:
    """An existing folder named like a video is a folder output (io/containers); it holds a file
    colormnet did not write, so even --overwrite is refused."""
    (w / "sentinel" / "dir.mp4").mkdir()
    (w / "sentinel" / "dir.mp4" / "keep.txt").write_text("mine")
    return [str(w / "clip.mp4"), "-e", str(w / "ref.png"), "-o", str(w / "sentinel" / "dir.mp4"), "--overwrite"]


def _mixed_sizes(w: Path) -> list[str]:
    Image.fromarray(np.zeros((24, 41), np.uint8)).save(w / "frames" / "3.png")
    return [str(w / "frames"), "-e", str(w / "ref.png"), "-o", str(w / "out")]


def _non_image(w: Path) -> list[str]:
    (w / "frames" / "readme.txt").write_text("notes")
    return [str(w / "frames"), "-e", str(w / "ref.png"), "-o", str(w / "out")]


def _empty_folder(w: Path) -> list[str]:
    (w / "nothing").mkdir()
    return [str(w / "nothing"), "-e", str(w / "ref.png"), "-o", str(w / "out")]


def _same_stem(w: Path) -> list[str]:
    Image.fromarray(np.zeros((24, 40), np.uint8)).save(w / "frames" / "0.jpg")
    return [str(w / "frames"), "-e", str(w / "ref.png"), "-o", str(w / "out")]


def _corrupt_frame(w: Path) -> list[str]:
    (w / "frames" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    return [str(w / "frames"), "-e", str(w / "ref.png"), "-o", str(w / "out")]


def _bad_weights(w: Path) -> list[str]:
    (w / "weights.pth").write_bytes(b"not a checkpoint")
    return [str(w / "clip.mp4"), "-e", str(w / "ref.png"), "-o", str(w / "out.mp4"), "--weights",
            str(w / "weights.pth")]


CASES = [
    Case("missing_video", _w("{w}/missing.mp4", "-e", "{w}/ref.png", "-o", "{w}/out.mp4"), 2, "missing.mp4"),
    Case("corrupt_video", _corrupt_video, 2, "bad.mp4"),
    Case("empty_video_file", _empty_file_video, 2, "empty.mp4"),
    Case("video_without_frames", _zero_frame_video, 2, "noframes.mp4"),
    Case("missing_exemplar", _w("{w}/clip.mp4", "-e", "{w}/nope.png", "-o", "{w}/out.mp4"), 2, "nope.png"),
    Case("exemplar_not_an_image", _bad_exemplar(b"not an image at all"), 2, "badref.png"),
    Case("exemplar_empty_file", _bad_exemplar(b""), 2, "badref.png"),
    Case("exemplar_truncated_png", _bad_exemplar(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), 2, "badref.png"),
    Case("exemplar_is_a_folder", _w("{w}/clip.mp4", "-e", "{w}/frames", "-o", "{w}/out.mp4"), 2, "frames"),
    Case("exemplar_is_a_video", _w("{w}/clip.mp4", "-e", "{w}/clip.mp4", "-o", "{w}/out.mp4"), 2, "clip.mp4"),
    Case("exemplar_larger_than_8k", _huge_exemplar, 2, "huge.png is too large"),
    Case("keyframe_past_end", _w("{w}/clip.mp4", "-e", "{w}/ref.png@8", "-o", "{w}/out.mp4"), 2, "frame 8"),
    Case("two_exemplars_one_frame",
         _w("{w}/clip.mp4", "-e", "{w}/ref.png@2", "-e", "{w}/ref.png@2", "-o", "{w}/out.mp4"), 2, "frame 2"),
    Case("keyframe_cut_by_max_frames",
         _w("{w}/clip.mp4", "-e", "{w}/ref.png@5", "--max-frames", "3", "-o", "{w}/out.mp4"), 2, "--max-frames 3"),
    Case("max_frames_zero", _w("{w}/clip.mp4", "-e", "{w}/ref.png", "--max-frames", "0", "-o", "{w}/out.mp4"),
         2, "--max-frames"),
    Case("output_is_input", _w("{w}/clip.mp4", "-e", "{w}/ref.png", "-o", "{w}/clip.mp4", "--overwrite"),
         2, "same as the input"),
    Case("output_is_exemplar", _w("{w}/clip.mp4", "-e", "{w}/ref.png", "-o", "{w}/ref.png", "--overwrite"),
         2, "ref.png"),
    Case("symlinked_output_to_input", _symlink_to_input, 2, "same as the input"),
    Case("symlinked_output_elsewhere", _symlink_elsewhere, 2, "symbolic link"),
    Case("existing_output", _existing_output, 2, "--overwrite"),
    Case("overwrite_foreign_folder", _foreign_folder_overwrite, 2, "notes.txt"),
    Case("output_folder_contains_input", _w("{w}/frames", "-e", "{w}/ref.png", "-o", "{w}", "--overwrite"),
         2, "contains the input"),
    Case("folder_output_is_a_file", _output_folder_is_file, 2, "notes.txt"),
    Case("video_name_is_a_foreign_folder", _output_file_is_folder, 2, "keep.txt"),
    Case("output_dir_missing", _w("{w}/clip.mp4", "-e", "{w}/ref.png", "-o", "{w}/no/such/out.mp4"), 2, "no/such"),
    Case("folder_mixed_sizes", _mixed_sizes, 2, "3.png"),
    Case("folder_non_image_file", _non_image, 2, "readme.txt"),
    Case("folder_empty", _empty_folder, 2, "nothing"),
    Case("folder_same_stem_png_jpg", _same_stem, 2, "0.jpg"),
    Case("folder_corrupt_frame", _corrupt_frame, 2, "2.png"),
    Case("device_gpu", _w("{w}/clip.mp4", "-e", "{w}/ref.png", "-o", "{w}/out.mp4", "--device", "gpu"),
         2, "--device"),
    Case("fps_zero_folder", _w("{w}/frames", "-e", "{w}/ref.png", "-o", "{w}/out.mp4", "--fps", "0"), 2, "--fps"),
    Case("fp16_on_cpu", _w("{w}/clip.mp4", "-e", "{w}/ref.png", "-o", "{w}/out.mp4", "--device", "cpu",
                           "--precision", "fp16"), 2, "fp16"),
    Case("bad_memory_flags", _w("{w}/clip.mp4", "-e", "{w}/ref.png", "-o", "{w}/out.mp4",
                                "--min-mid-term-frames", "12"), 2, "min_mid_term_frames"),
    Case("missing_weights", _w("{w}/clip.mp4", "-e", "{w}/ref.png", "-o", "{w}/out.mp4", "--no-download",
                               "--weights", "{w}/nope.pth"), 2, "nope.pth", tiny=False),
    Case("corrupt_weights", _bad_weights, 2, "weights.pth", tiny=False),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world: Path, tiny_model, monkeypatch, capsys) -> None:
    if case.tiny:
        monkeypatch.setattr("colormnet.api.build_model", lambda *a, **k: tiny_model)
    monkeypatch.setenv("COLORMNET_CACHE", str(world / "no-cache"))
    monkeypatch.delenv("COLORMNET_WEIGHTS", raising=False)
    argv = case.setup(world)
    before = _tree_hashes(world)
    code = main(["colorize", *argv, "--quiet", "--device", "cpu"] if "--device" not in argv
                else ["colorize", *argv, "--quiet"])
    err = capsys.readouterr().err
    assert code == case.code, err
    assert case.message in err, err
    assert err.startswith("colormnet: error:") and "Traceback" not in err
    assert _tree_hashes(world) == before  # no input, sentinel or output file created/changed/removed


def test_matrix_is_large_enough() -> None:
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)


_CHILD = textwrap.dedent("""
    import sys
    import torch
    from colormnet.config import ModelConfig
    from colormnet.model.network import ColorMNet
    import colormnet.api
    from colormnet.cli import main

    torch.manual_seed(0)
    model = ColorMNet(ModelConfig.tiny()).eval()
    colormnet.api.build_model = lambda *a, **k: model
    sys.exit(main(sys.argv[1:]))
""")


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))


@pytest.mark.parametrize("out_name", ["out", "out.mkv"])
def test_full_disk(world: Path, out_name: str) -> None:
    """A full disk (simulated with RLIMIT_FSIZE: no file may grow past 6000 bytes): exit 2, a message
    naming the output, no partial file left, nothing else changed."""
    src = world / "big"
    src.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):  # noisy frames: each PNG is far above the limit
        Image.fromarray(rng.integers(0, 256, (64, 96), dtype=np.uint8)).save(src / f"{i}.png")
    before = _tree_hashes(world)
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
    proc = subprocess.run([sys.executable, "-c", _CHILD, "colorize", str(src), "-e", str(world / "ref.png"),
                           "-o", str(world / out_name), "--quiet", "--device", "cpu", "--codec", "ffv1"]
                          if out_name.endswith(".mkv") else
                          [sys.executable, "-c", _CHILD, "colorize", str(src), "-e", str(world / "ref.png"),
                           "-o", str(world / out_name), "--quiet", "--device", "cpu"],
                          env=env, capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size)
    assert proc.returncode == 2, proc.stderr
    assert out_name in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert _tree_hashes(world) == before, proc.stderr
