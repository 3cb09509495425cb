"""Checkpoint lookup, (fake) download, strict loading and the ``colormnet weights`` CLI. No network."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path
from types import MappingProxyType

import pytest
import torch
from torch import nn

from colormnet import weights as W
from colormnet.cli import main
from colormnet.errors import WeightsError

CKPT = W.CHECKPOINTS["colormnet"]


class Tiny(nn.Module):
    def __init__(self, out: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, out, 3)
        self.bn = nn.BatchNorm2d(out)
        self.fc = nn.Linear(4, 5)


class Wide(nn.Module):
    """30 parameters named p00..p29, to check that long key lists are truncated."""

    def __init__(self) -> None:
        super().__init__()
        for i in range(30):
            self.register_parameter(f"p{i:02d}", nn.Parameter(torch.zeros(1)))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache dir, no env overrides, and any use of urllib fails the test loudly."""
    monkeypatch.setenv("COLORMNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COLORMNET_WEIGHTS", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tmp_path


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


class FakeResponse(io.BytesIO):
    def __init__(self, data: bytes, length: int | None) -> None:
        super().__init__(data)
        self.headers = {} if length is None else {"Content-Length": str(length)}


def serve(monkeypatch, data: bytes, length: int | None = -1) -> list[str]:
    """Make urlopen return ``data``; returns the list of requested URLs."""
    seen: list[str] = []

    def fake_urlopen(request, timeout=None):
        seen.append(request.full_url)
        return FakeResponse(data, len(data) if length == -1 else length)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return seen


def _with_expected(monkeypatch, **changes) -> W.Checkpoint:
    ckpt = dataclasses.replace(CKPT, **changes)
    monkeypatch.setattr(W, "CHECKPOINTS", MappingProxyType({"colormnet": ckpt}))
    return ckpt


def _cache_files() -> list[str]:
    d = W.cache_dir()
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# --- table and lookup -------------------------------------------------------------------------------

def test_table_entry_is_the_authors_release():
    assert CKPT.filename == "DINOv2FeatureV6_LocalAtten_s2_154000.pth"
    assert CKPT.url.endswith("/yyang181/colormnet/releases/download/v0.1/" + CKPT.filename)
    assert CKPT.licence.startswith("CC BY-NC-SA 4.0")
    assert CKPT.size_bytes is None and CKPT.sha256 is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        CKPT.url = "x"  # type: ignore[misc]
    with pytest.raises(WeightsError, match="unknown checkpoint name 'nope'.*colormnet"):
        W.get_checkpoint("nope")


def test_cache_dir_precedence(tmp_path, monkeypatch):
    assert W.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("COLORMNET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert W.cache_dir() == tmp_path / "xdg" / "colormnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert W.cache_dir() == tmp_path / "home" / ".cache" / "colormnet"
    monkeypatch.setenv("COLORMNET_CACHE", "")  # empty = unset
    assert W.cache_dir() == tmp_path / "home" / ".cache" / "colormnet"


def test_resolution_order_explicit_env_cache(tmp_path, monkeypatch, caplog):
    explicit = _write(tmp_path / "explicit.pth")
    env = _write(tmp_path / "env.pth")
    cached = _write(W.cached_path())
    monkeypatch.setenv("COLORMNET_WEIGHTS", str(env))
    with caplog.at_level(logging.INFO, logger="colormnet.weights"):
        assert W.resolve_weights(explicit) == explicit.resolve()
    assert "CC BY-NC-SA 4.0" in caplog.text
    assert W.resolve_weights() == env.resolve()
    monkeypatch.delenv("COLORMNET_WEIGHTS")
    assert W.resolve_weights() == cached.resolve()
    # a directory holding the expected file name is accepted (the authors' ./saves/ layout)
    saves = _write(tmp_path / "saves" / CKPT.filename).parent
    assert W.resolve_weights(saves) == (saves / CKPT.filename).resolve()


def test_missing_explicit_or_env_path_is_named_and_not_skipped(tmp_path, monkeypatch):
    _write(W.cached_path())  # a cached copy must not hide a wrong explicit path
    gone = tmp_path / "gone.pth"
    with pytest.raises(WeightsError, match="gone.pth.*does not exist"):
        W.resolve_weights(gone)
    monkeypatch.setenv("COLORMNET_WEIGHTS", str(gone))
    with pytest.raises(WeightsError, match=r"gone\.pth \(from \$COLORMNET_WEIGHTS\)"):
        W.resolve_weights()
    with pytest.raises(WeightsError, match="is a directory"):
        W.resolve_weights(tmp_path)


def test_missing_checkpoint_message_and_no_download_unless_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: calls.append(a) or 1 / 0)
    with pytest.raises(WeightsError) as info:
        W.resolve_weights()
    msg = str(info.value)
    assert str(W.cached_path()) in msg
    assert CKPT.url in msg
    assert "COLORMNET_WEIGHTS" in msg and "--weights" in msg
    assert "CC BY-NC-SA 4.0" in msg
    assert calls == []
    assert not W.cache_dir().exists()


# --- download ---------------------------------------------------------------------------------------

def test_fake_download_writes_atomically_and_loads(monkeypatch):
    payload = _torch_bytes({"w": torch.arange(4.0)})
    seen = serve(monkeypatch, payload)
    path = W.resolve_weights(download=True, progress=False)
    assert seen == [CKPT.url]
    assert path == W.cached_path().resolve()
    assert path.read_bytes() == payload
    assert _cache_files() == [CKPT.filename, W.TRUST_NAME]  # no temp file left behind
    assert path.stat().st_mode & 0o044 == 0o044  # readable by group/others like any download (umask 022)
    assert torch.equal(W.load_state_dict_file(path)["w"], torch.arange(4.0))
    # second call finds the cached copy and does not touch the network
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: 1 / 0)
    assert W.resolve_weights(download=True) == path


def test_download_with_matching_hash_succeeds(monkeypatch):
    payload = _torch_bytes({"w": torch.ones(2)})
    _with_expected(monkeypatch, sha256=hashlib.sha256(payload).hexdigest(), size_bytes=len(payload))
    serve(monkeypatch, payload, length=None)
    assert W.download_checkpoint(progress=False).read_bytes() == payload
    assert W.verify(W.cached_path())["status"] == "ok"


@pytest.mark.parametrize("case", ["sha256", "truncated", "not_torch"])
def test_bad_download_leaves_no_file(monkeypatch, case):
    payload = _torch_bytes({"w": torch.ones(2)})
    if case == "sha256":
        _with_expected(monkeypatch, sha256="0" * 64)
        serve(monkeypatch, payload)
        match = "sha256 .* != expected 0000"
    elif case == "truncated":
        serve(monkeypatch, payload[:100], length=len(payload))
        match = f"got 100 bytes, expected {len(payload)}"
    else:
        serve(monkeypatch, b"<html>Not Found</html>")
        match = "not a PyTorch checkpoint"
    with pytest.raises(WeightsError, match=match):
        W.download_checkpoint(progress=False)
    assert not W.cached_path().exists()
    assert _cache_files() == []


def test_offline_download_error_is_helpful(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(WeightsError) as info:
        W.resolve_weights(download=True, progress=False)
    msg = str(info.value)
    assert "download failed" in msg and "name resolution" in msg
    assert CKPT.url in msg and str(W.cached_path()) in msg and "CC BY-NC-SA" in msg
    assert _cache_files() == []


def test_download_keeps_existing_file_unless_forced(monkeypatch):
    old = _write(W.cached_path(), b"old")
    assert W.download_checkpoint(progress=False) == old.resolve()  # urlopen guard not hit
    assert old.read_bytes() == b"old"
    payload = _torch_bytes({"w": torch.zeros(1)})
    serve(monkeypatch, payload)
    W.download_checkpoint(force=True, progress=False)
    assert old.read_bytes() == payload
    # a failed forced download keeps the previous file intact
    serve(monkeypatch, b"garbage")
    with pytest.raises(WeightsError):
        W.download_checkpoint(force=True, progress=False)
    assert old.read_bytes() == payload and _cache_files() == [CKPT.filename, W.TRUST_NAME]


# --- reading and loading ----------------------------------------------------------------------------

@pytest.mark.parametrize("wrapper", [None, "model", "state_dict", "network"])
def test_plain_and_wrapped_state_dicts_load(tmp_path, wrapper):
    torch.manual_seed(0)
    src = Tiny()
    src.bn.running_mean.fill_(0.5)
    sd = src.state_dict()
    obj = sd if wrapper is None else {wrapper: sd, "epoch": 7, "optimizer": {"lr": 1e-4}}
    path = _write(tmp_path / "ck.pth", _torch_bytes(obj))
    loaded = W.load_state_dict_file(path)
    assert set(loaded) == set(sd)
    dst = Tiny()
    W.load_into(dst, loaded)
    for key, value in dst.state_dict().items():
        assert torch.equal(value, sd[key]), key
    assert torch.equal(dst.bn.running_mean, torch.full((3,), 0.5))


@pytest.mark.parametrize("content", ["garbage", "truncated", "list", "no_state_dict", "custom_class"])
def test_unreadable_checkpoints_raise_weights_error(tmp_path, content):
    good = _torch_bytes(Tiny().state_dict())
    data = {
        "garbage": b"\x00not a checkpoint at all",
        "truncated": good[: len(good) // 2],
        "list": _torch_bytes([torch.ones(1)]),
        "no_state_dict": _torch_bytes({"epoch": 3, "model": {"a": 1}}),
        "custom_class": _torch_bytes(Tiny()),  # a whole module: weights_only refuses it
    }[content]
    path = _write(tmp_path / f"{content}.pth", data)
    with pytest.raises(WeightsError, match=f"{content}.pth") as info:
        W.load_state_dict_file(path)
    expected = {"garbage": "not a PyTorch file or corrupt", "truncated": "not a PyTorch file or corrupt",
                "list": "holds a list, not a state_dict", "no_state_dict": "top-level keys: 'epoch', 'model'",
                "custom_class": "Unsupported global.*Tiny was not.*Save model.state_dict"}[content]
    assert re.search(expected, str(info.value)), str(info.value)
    with pytest.raises(WeightsError, match="missing.pth does not exist"):
        W.load_state_dict_file(tmp_path / "missing.pth")


def test_strict_load_lists_missing_unexpected_and_misshaped_keys():
    model = Tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sd = Tiny(out=4).state_dict()  # conv/bn shapes differ
    del sd["fc.bias"]
    sd["extra.weight"] = torch.zeros(2)
    with pytest.raises(WeightsError) as info:
        W.load_into(model, sd, source="ck.pth")
    msg = str(info.value)
    assert "checkpoint ck.pth does not match" in msg
    assert "missing keys (1):\n    fc.bias" in msg
    assert "unexpected keys (1):\n    extra.weight" in msg
    assert "mis-shaped keys (6):" in msg
    assert "conv.weight: model (3, 2, 3, 3) vs file (4, 2, 3, 3)" in msg
    assert "bn.running_var: model (3,) vs file (4,)" in msg
    assert "bn.num_batches_tracked" not in msg  # same shape, so not reported
    for key, value in model.state_dict().items():  # nothing was half-loaded
        assert torch.equal(value, before[key])


def test_strict_load_truncates_long_key_lists():
    with pytest.raises(WeightsError) as info:
        W.load_into(Wide(), {"other": torch.zeros(1)})
    msg = str(info.value)
    assert "missing keys (30):" in msg and "... and 10 more" in msg
    assert "p19" in msg and "p20" not in msg
    assert "unexpected keys (1):\n    other" in msg


# --- verify and CLI ---------------------------------------------------------------------------------

def test_verify_reports_size_hash_and_status(tmp_path, monkeypatch):
    path = _write(tmp_path / "f.pth", b"hello")
    digest = hashlib.sha256(b"hello").hexdigest()
    info = W.verify(path)
    assert (info["size_bytes"], info["sha256"], info["status"]) == (5, digest, "unknown")
    assert info["size_ok"] is None and info["sha256_ok"] is None
    _with_expected(monkeypatch, size_bytes=5, sha256=digest.upper())
    assert W.verify(path)["status"] == "ok"
    _with_expected(monkeypatch, size_bytes=5, sha256="1" * 64)
    info = W.verify(path)
    assert info["status"] == "mismatch" and info["size_ok"] is True and info["sha256_ok"] is False
    with pytest.raises(WeightsError, match="nope.pth"):
        W.verify(tmp_path / "nope.pth")


def test_cli_path_exit_codes(tmp_path, monkeypatch, capsys):
    assert main(["weights", "path"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("colormnet: error:") and CKPT.url in err and str(W.cached_path()) in err
    assert "Traceback" not in err
    assert main(["weights", "path", "--weights", str(tmp_path / "nope.pth")]) == 2
    assert "nope.pth" in capsys.readouterr().err
    explicit = _write(tmp_path / "mine.pth")
    assert main(["weights", "path", "--weights", str(explicit)]) == 0
    assert capsys.readouterr().out.strip() == str(explicit.resolve())
    cached = _write(W.cached_path())
    assert main(["weights", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(cached.resolve())


def test_cli_list_verify_download(tmp_path, monkeypatch, capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert CKPT.filename in out and "CC BY-NC-SA 4.0" in out and "not found" in out
    payload = _torch_bytes({"w": torch.ones(3)})
    serve(monkeypatch, payload)
    assert main(["weights", "download", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(W.cached_path().resolve())
    assert main(["weights", "list"]) == 0
    assert f"local:       {W.cached_path().resolve()}" in capsys.readouterr().out
    assert main(["weights", "verify"]) == 0
    out = capsys.readouterr().out
    assert hashlib.sha256(payload).hexdigest() in out and "status:  ok" in out and W.TRUST_NAME in out
    _with_expected(monkeypatch, sha256="2" * 64)
    assert main(["weights", "verify", str(W.cached_path())]) == 1
    captured = capsys.readouterr()
    assert "status:  mismatch" in captured.out and "does not match" in captured.err


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_trust_on_first_use_then_verify_fails_for_damaged_file(monkeypatch, capsys, damage):
    """Nothing published: the first verification of the cached copy records size + sha256; a
    truncated or altered copy then fails verification with exit 1."""
    payload = _torch_bytes({"w": torch.ones(5)})
    cached = _write(W.cached_path(), payload)
    assert not W.trust_file().exists()
    assert main(["weights", "verify"]) == 0
    out = capsys.readouterr().out
    assert "status:  recorded" in out and str(W.trust_file()) in out
    record = W._read_trust()["colormnet"]
    assert record["sha256"] == hashlib.sha256(payload).hexdigest() and record["size_bytes"] == len(payload)
    assert main(["weights", "verify"]) == 0 and "status:  ok" in capsys.readouterr().out
    if damage == "truncated":
        cached.write_bytes(payload[:-10])
    else:
        cached.write_bytes(payload[:50] + bytes([payload[50] ^ 1]) + payload[51:])
    assert main(["weights", "verify"]) == 1
    captured = capsys.readouterr()
    assert "status:  mismatch" in captured.out and "truncated or altered" in captured.err
    assert "Traceback" not in captured.err
    # a re-download is checked against the record too: a different file is refused, cache untouched
    serve(monkeypatch, _torch_bytes({"w": torch.zeros(5)}))
    with pytest.raises(WeightsError, match="sha256 .* != expected"):
        W.download_checkpoint(force=True, progress=False)
    assert cached.read_bytes() != payload and _cache_files() == [CKPT.filename, W.TRUST_NAME]


def test_verify_of_another_file_records_nothing(tmp_path, capsys):
    other = _write(tmp_path / "mine.pth", b"abc")
    assert main(["weights", "verify", str(other)]) == 0
    assert "status:  unknown" in capsys.readouterr().out and not W.trust_file().exists()
