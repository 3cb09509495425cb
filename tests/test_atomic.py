"""The single atomic-write mechanism (colormnet.io.atomic) and signal handling of the CLI:
temporary names, permissions, stale temporaries of killed runs, SIGTERM/SIGHUP cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from colormnet.errors import OutputError
from colormnet.io import atomic
from tests.media import make_gray_clip

REPO = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(proc.stdout)


def test_atomic_file_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic.atomic_write_text(tmp_path / "a.txt", "x")
        os.umask(0o077)
        atomic.atomic_write_text(tmp_path / "b.txt", "y")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o600
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]


def test_atomic_file_failure_keeps_old_content(tmp_path):
    path = tmp_path / "state.bin"
    atomic.atomic_write(path, lambda f: f.write(b"old"))
    with pytest.raises(KeyboardInterrupt), atomic.AtomicFile(path) as f:
        f.write(b"half")
        raise KeyboardInterrupt
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["state.bin"]


def test_stale_partial_file_of_a_dead_run_is_removed(tmp_path):
    """A killed run's ``.out.partial-HOST-PID-RAND.mp4`` is removed by the next run of the same output;
    a live process's temporary, another host's, and other outputs' are kept."""
    host, dead = atomic._host_tag(), _dead_pid()
    stale = tmp_path / f".out.partial-{host}-{dead}-0a1b2c.mp4"
    live = tmp_path / f".out.partial-{host}-{os.getppid()}-0a1b2c.mp4"
    remote = tmp_path / f".out.partial-otherhost{host}-{dead}-0a1b2c.mp4"
    other = tmp_path / f".out2.partial-{host}-{dead}-0a1b2c.mp4"
    for p in (stale, live, remote, other):
        p.write_bytes(b"x")
    tmp = atomic.partial_file_path(tmp_path / "out.mp4")
    assert tmp.suffix == ".mp4" and tmp.name.startswith(".out.partial-") and not tmp.exists()
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in (live, remote, other))


def test_symlinked_output_is_refused(tmp_path):
    target = tmp_path / "somewhere.mp4"
    target.write_bytes(b"keep")
    link = tmp_path / "out.mp4"
    link.symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"):
        atomic.check_output_path(link, overwrite=True)
    assert target.read_bytes() == b"keep" and link.is_symlink()


def test_empty_output_name_is_refused(tmp_path):
    for bad in (".", "..", ""):
        with pytest.raises(OutputError, match="names no file"):
            atomic.check_output_path(bad, is_dir=True, overwrite=True)


_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import torch
    from colormnet.config import ModelConfig
    from colormnet.model.network import ColorMNet
    import colormnet.api
    from colormnet.cli import main

    torch.manual_seed(0)
    model = ColorMNet(ModelConfig.tiny()).eval()
    colormnet.api.build_model = lambda *a, **k: model
    original, calls = ColorMNet.decode, [0]
    flag = Path(sys.argv[1])

    def slow(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            flag.write_text("running")
        if calls[0] >= 2:
            time.sleep(0.5)
        return original(self, *args, **kwargs)

    ColorMNet.decode = slow
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.parametrize(("signame", "suffix"), [("SIGTERM", ".mp4"), ("SIGHUP", ""), ("SIGHUP", ".mkv")])
def test_signals_in_process(tiny_model, monkeypatch, tmp_path, capsys, signame, suffix):
    """Issue 9.2: SIGTERM / SIGHUP arriving mid-run unwind like Ctrl-C: exit 128 + signal number, no
    final output, no partial leftovers, handlers restored afterwards."""
    from PIL import Image
    from skimage import data

    from colormnet.cli import main

    monkeypatch.setattr("colormnet.api.build_model", lambda *a, **k: tiny_model)
    original, calls = type(tiny_model).decode, {"n": 0}
    signum = getattr(signal, signame)

    def kill_me(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signum)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(tiny_model), "decode", kill_me)
    clip = make_gray_clip(tmp_path / "clip.mp4", n=8, w=32, h=16, fps=24)
    ref = tmp_path / "ref.png"
    Image.fromarray(data.astronaut()[::8, ::8]).save(ref)
    outs = tmp_path / "outs"
    outs.mkdir()
    before = signal.getsignal(signum)
    assert main(["colorize", str(clip), "-e", str(ref), "-o", str(outs / f"o{suffix}"), "--quiet"]) == 128 + signum
    assert f"terminated by {signame}" in capsys.readouterr().err
    assert os.listdir(outs) == [] and signal.getsignal(signum) == before


def test_sigterm_to_a_real_process_cleans_up(tmp_path):
    """Issue 9.2: a separate ``colormnet colorize`` process killed by SIGTERM (timeout, SLURM, docker
    stop) while its partial folder exists removes it and exits 143 with a message."""
    signame, suffix = "SIGTERM", ""
    from PIL import Image
    from skimage import data

    clip = make_gray_clip(tmp_path / "clip.mp4", n=12, w=32, h=16, fps=24)
    ref = tmp_path / "ref.png"
    Image.fromarray(data.astronaut()[::8, ::8]).save(ref)
    outs = tmp_path / "outs"
    outs.mkdir()
    flag = tmp_path / "flag"
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'src'}{os.pathsep}{REPO}")
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(flag), "colorize", str(clip), "-e", str(ref),
                             "-o", str(outs / f"o{suffix}"), "--quiet", "--device", "cpu"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not flag.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), proc.communicate()[1]
    if not suffix:
        assert os.listdir(outs), "the run should have a partial output folder by now"
    signum = getattr(signal, signame)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert f"terminated by {signame}" in err and "Traceback" not in err
    assert os.listdir(outs) == []  # no final output, no partial leftovers
