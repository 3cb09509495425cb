"""Known checkpoints: where they are, fetching them on request, and loading them strictly.

Nothing is downloaded at import time or unless a caller passes ``download=True``
(or runs ``colormnet weights download``). Lookup order in :func:`resolve_weights`:
explicit path > ``$COLORMNET_WEIGHTS`` > the cache directory (:func:`cache_dir`) > download.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import time
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from colormnet.errors import WeightsError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ENV_WEIGHTS = "COLORMNET_WEIGHTS"
ENV_CACHE = "COLORMNET_CACHE"
WRAPPER_KEYS = ("model", "state_dict", "network")
_SHOW = 20  # keys listed per category in a mismatch report
_CHUNK = 1 << 20
TRUST_NAME = "checksums.json"


@dataclass(frozen=True)
class Checkpoint:
    """One published checkpoint. ``size_bytes``/``sha256`` are None when not published; then the
    values recorded at the first download or verification are used (see :func:`trust_file`)."""

    name: str
    filename: str
    url: str
    licence: str
    size_bytes: int | None
    sha256: str | None
    description: str


CHECKPOINTS: Mapping[str, Checkpoint] = MappingProxyType({
    "colormnet": Checkpoint(
        name="colormnet",
        filename="DINOv2FeatureV6_LocalAtten_s2_154000.pth",
        url="https://github.com/yyang181/colormnet/releases/download/v0.1/"
            "DINOv2FeatureV6_LocalAtten_s2_154000.pth",
        licence="CC BY-NC-SA 4.0 (authors' weights; non-commercial research use)",
        size_bytes=None, sha256=None,  # not published by the authors: trust on first use (checksums.json)
        description="ColorMNet (ECCV 2024) authors' release, stage-2 iteration 154000; "
                    "plain state_dict of the full network (DINOv2 included)",
    ),
})


def get_checkpoint(name: str) -> Checkpoint:
    """The table entry ``name``; WeightsError listing the known names otherwise."""
    try:
        return CHECKPOINTS[name]
    except KeyError:
        raise WeightsError(f"unknown checkpoint name {name!r}; known: {', '.join(CHECKPOINTS)}") from None


def _env_path(var: str) -> Path | None:
    value = os.environ.get(var, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """``$COLORMNET_CACHE``, else ``$XDG_CACHE_HOME/colormnet``, else ``~/.cache/colormnet``."""
    explicit = _env_path(ENV_CACHE)
    if explicit is not None:
        return explicit
    xdg = _env_path("XDG_CACHE_HOME")
    return (xdg if xdg is not None else Path.home() / ".cache") / "colormnet"


def cached_path(name: str = "colormnet") -> Path:
    """Where checkpoint ``name`` lives in the cache (it may not exist)."""
    return cache_dir() / get_checkpoint(name).filename


def missing_message(ckpt: Checkpoint, reason: str = "") -> str:
    """The user-facing text for 'checkpoint not available': where to put it, URL, licence."""
    return (f"checkpoint '{ckpt.name}' ({ckpt.filename}) not found{reason}.\n"
            f"  Download it from {ckpt.url}\n"
            f"  and put it at {cached_path(ckpt.name)}\n"
            f"  (or run 'colormnet weights download'), or point {ENV_WEIGHTS} or --weights at the file.\n"
            f"  Licence: {ckpt.licence}.")


def _existing_file(path: Path, ckpt: Checkpoint, origin: str) -> Path:
    """``path`` if it is a file, ``path/<filename>`` if it is a directory holding it."""
    if path.is_dir() and (path / ckpt.filename).is_file():
        path = path / ckpt.filename
    if not path.is_file():
        what = "is a directory without " + ckpt.filename if path.is_dir() else "does not exist"
        raise WeightsError(f"checkpoint file {path} (from {origin}) {what}.\n{missing_message(ckpt)}")
    return path.resolve()


def find_local(path: str | Path | None = None, name: str = "colormnet") -> Path | None:
    """Explicit ``path`` > ``$COLORMNET_WEIGHTS`` > cache, without downloading or logging.

    Returns None when neither a path nor the env var is given and the cache has no copy; a given
    path (or env var) that does not exist raises WeightsError. A directory holding the expected
    filename is accepted in place of the file.
    """
    ckpt = get_checkpoint(name)
    env = _env_path(ENV_WEIGHTS)
    if path is not None:
        return _existing_file(Path(path).expanduser(), ckpt, "the explicit path / --weights")
    if env is not None:
        return _existing_file(env, ckpt, f"${ENV_WEIGHTS}")
    cached = cached_path(name)
    return cached.resolve() if cached.is_file() else None


def resolve_weights(path: str | Path | None = None, name: str = "colormnet", download: bool = False,
                    progress: bool = True) -> Path:
    """Find checkpoint ``name``: explicit ``path`` > ``$COLORMNET_WEIGHTS`` > cache > download.

    Downloads only when ``download`` is True (see :func:`download_checkpoint`); otherwise a missing
    checkpoint raises WeightsError saying where to put it. Returns an absolute path to a file.
    """
    ckpt = get_checkpoint(name)
    found = find_local(path, name)
    if found is None and download:
        found = download_checkpoint(name, progress=progress)
    if found is None:
        raise WeightsError(missing_message(ckpt, f" in {cache_dir()}; downloading was not requested"))
    log.info("Using checkpoint %s; licence: %s", found, ckpt.licence)
    return found


def trust_file() -> Path:
    """The trust-on-first-use record beside the cached checkpoints: ``<cache>/checksums.json``.

    Maps a checkpoint name to the size and SHA-256 of the file first downloaded or verified in the
    cache (used when the table has no published values)."""
    return cache_dir() / TRUST_NAME


def _read_trust() -> dict[str, dict[str, Any]]:
    path = trust_file()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise WeightsError(f"the checksum record {path} is unreadable ({err}); delete it to record the "
                           "checksums again") from err
    return data if isinstance(data, dict) else {}


def expected_values(name: str = "colormnet") -> tuple[int | None, str | None, str]:
    """(size, sha256, where from) that checkpoint ``name`` must match: the table's published values,
    else the trust-on-first-use record, else (None, None, "nothing recorded")."""
    ckpt = get_checkpoint(name)
    if ckpt.sha256 is not None or ckpt.size_bytes is not None:
        return ckpt.size_bytes, ckpt.sha256 and ckpt.sha256.lower(), "the published values"
    entry = _read_trust().get(name)
    if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
        size = entry.get("size_bytes")
        return (int(size) if isinstance(size, int) else None), entry["sha256"].lower(), f"{trust_file()}"
    return None, None, "nothing recorded"


def record_trust(name: str, size: int, sha256: str, source: str) -> Path:
    """Record ``size``/``sha256`` as the trusted values of ``name`` (trust on first use); returns the file."""
    data = _read_trust()
    from colormnet.io.atomic import atomic_write_text

    data[name] = {"filename": get_checkpoint(name).filename, "size_bytes": int(size), "sha256": sha256,
                  "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "source": source}
    return atomic_write_text(trust_file(), json.dumps(data, indent=2, sort_keys=True) + "\n")


def _problems(name: str, size: int, sha: str) -> tuple[list[str], str]:
    exp_size, exp_sha, origin = expected_values(name)
    problems = []
    if exp_size is not None and size != exp_size:
        problems.append(f"size {size} bytes != expected {exp_size}")
    if exp_sha is not None and sha != exp_sha:
        problems.append(f"sha256 {sha} != expected {exp_sha}")
    return problems, origin


def download_checkpoint(name: str = "colormnet", force: bool = False, progress: bool = True) -> Path:
    """Download ``name`` into the cache: temp file in the cache dir, checked, then renamed.

    An existing cached file is returned as is unless ``force``; with ``force`` it is replaced only
    once the new download is complete and verified. The size and SHA-256 are checked against the
    published values, else against the trust-on-first-use record (:func:`trust_file`), which the
    first download creates. Failures raise WeightsError and leave no file.
    """
    from tqdm import tqdm

    from colormnet.io.atomic import AtomicFile

    ckpt = get_checkpoint(name)
    dest = cached_path(name)
    if dest.is_file() and not force:
        log.info("%s already present at %s (use force to re-download)", ckpt.name, dest)
        return dest.resolve()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WeightsError(f"cannot create cache directory {dest.parent}: {err}") from err
    log.info("Downloading %s from %s to %s; licence: %s", ckpt.name, ckpt.url, dest, ckpt.licence)
    digest, size = hashlib.sha256(), 0
    atomic = AtomicFile(dest)
    with atomic as out:  # removed, and dest untouched, when anything below raises
        try:
            request = urllib.request.Request(ckpt.url, headers={"User-Agent": "colormnet"})
            with urllib.request.urlopen(request, timeout=60) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else ckpt.size_bytes
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                          desc=ckpt.filename, disable=not progress) as bar:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        bar.update(len(chunk))
        except (OSError, ValueError, http.client.HTTPException) as err:  # URLError/timeouts: OSError
            raise WeightsError(missing_message(ckpt, f"; download failed ({err})")) from err
        problems = []
        if total is not None and size != total:
            problems.append(f"got {size} bytes, expected {total}")
        more, origin = _problems(name, size, digest.hexdigest())
        problems += [f"{p} (from {origin})" for p in more]
        out.flush()
        with open(atomic.tmp, "rb") as f:  # torch.save writes a zip archive (legacy: a pickle, 0x80 first)
            is_torch = zipfile.is_zipfile(f) or (f.seek(0) == 0 and f.read(1) == b"\x80")
        if not problems and not is_torch:
            problems.append("the data is not a PyTorch checkpoint")
        if problems:
            raise WeightsError(f"download of {ckpt.url} is corrupt ({'; '.join(problems)}); nothing was "
                               f"saved to {dest}. Try again, or download it by hand.")
    sha = digest.hexdigest()
    log.info("Saved %s (%d bytes, sha256 %s)", dest, size, sha)
    if origin == "nothing recorded":
        where = record_trust(name, size, sha, f"download of {ckpt.url}")
        log.info("No published checksum for %s: recorded size and sha256 in %s (trust on first use); "
                 "later downloads and 'colormnet weights verify' are checked against it", ckpt.name, where)
    return dest.resolve()


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | Path, name: str = "colormnet", *, record: bool = True) -> dict[str, Any]:
    """Size and sha256 of ``path`` compared with the published values of ``name``, else the
    trust-on-first-use record.

    When neither exists and ``path`` is the cached copy (and ``record``), its values are recorded
    now (status "recorded"). Returns keys: path, size_bytes, sha256, expected_size_bytes,
    expected_sha256, expected_from, size_ok, sha256_ok (True/False, or None when nothing is
    known), status ("ok", "mismatch", "recorded", "unknown") and trust_file.
    """
    get_checkpoint(name)
    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsError(f"cannot verify {p}: no such file")
    size, sha = p.stat().st_size, file_sha256(p)
    exp_size, exp_sha, origin = expected_values(name)
    status = None
    cached = cached_path(name)
    if exp_size is None and exp_sha is None and record and cached.is_file() and os.path.samefile(p, cached):
        record_trust(name, size, sha, f"first verification of {p}")
        exp_size, exp_sha, origin, status = size, sha, str(trust_file()), "recorded"
    size_ok = None if exp_size is None else size == exp_size
    sha_ok = None if exp_sha is None else sha == exp_sha
    checks = [c for c in (size_ok, sha_ok) if c is not None]
    if status is None:
        status = "unknown" if not checks else ("ok" if all(checks) else "mismatch")
    return {"path": str(p.resolve()), "size_bytes": size, "sha256": sha,
            "expected_size_bytes": exp_size, "expected_sha256": exp_sha, "expected_from": origin,
            "size_ok": size_ok, "sha256_ok": sha_ok, "status": status, "trust_file": str(trust_file())}


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint on the CPU with ``torch.load(weights_only=True)``.

    Accepts a plain state_dict (str -> Tensor) or a dict wrapping one under "model", "state_dict"
    or "network" (first found; other entries such as "epoch" are ignored). Keys are not remapped.
    """
    import torch

    p = Path(path).expanduser()
    if not p.is_file():
        raise WeightsError(f"checkpoint file {p} does not exist")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling, zip and storage errors come in many types
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()] or [type(err).__name__]
        detail = next((ln for ln in lines if ln.startswith("WeightsUnpickler error:")), lines[0])
        detail = detail.split(" Please use")[0][:240]
        if "Unsupported global" in detail:
            raise WeightsError(f"checkpoint {p} holds Python objects besides tensors, e.g. a pickled "
                               f"model ({detail}); only state_dicts are loaded (weights_only=True, "
                               "for safety). Save model.state_dict() instead.") from err
        raise WeightsError(f"cannot read checkpoint {p}: not a PyTorch file or corrupt ({detail}). "
                           "Re-download it or check the path.") from err

    def is_state_dict(d: object) -> bool:
        return isinstance(d, dict) and bool(d) and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())

    if is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, dict):
        for key in WRAPPER_KEYS:
            if is_state_dict(obj.get(key)):
                return dict(obj[key])
        keys = ", ".join(map(repr, list(obj)[:10]))
        raise WeightsError(f"checkpoint {p} holds a dict without a state_dict (top-level keys: {keys}); "
                           f"expected name -> tensor or a wrapper under {'/'.join(WRAPPER_KEYS)}")
    raise WeightsError(f"checkpoint {p} holds a {type(obj).__name__}, not a state_dict")


def _listing(title: str, items: list[str]) -> str:
    shown = "\n    ".join(items[:_SHOW])
    more = f"\n    ... and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return f"  {title} ({len(items)}):\n    {shown}{more}"


def load_into(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor],
              source: str | Path | None = None, *, take_over: bool = False) -> None:
    """Strictly load ``state_dict`` into ``model``; WeightsError lists any key/shape mismatch first.

    ``source`` (e.g. the file name) is only used in the error message. ``take_over``: the model keeps
    the dict's own tensors (no copy: the weights are held once) when they already have the
    parameters' dtype, device and a contiguous layout; only for a dict nothing else uses afterwards.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    misshaped = [f"{k}: model {tuple(expected[k].shape)} vs file {tuple(state_dict[k].shape)}"
                 for k in sorted(set(expected) & set(state_dict))
                 if tuple(expected[k].shape) != tuple(state_dict[k].shape)]
    where = f" {source}" if source is not None else ""
    if missing or unexpected or misshaped:
        parts = [_listing(t, items) for t, items in (("missing keys", missing),
                 ("unexpected keys", unexpected), ("mis-shaped keys", misshaped)) if items]
        raise WeightsError(f"checkpoint{where} does not match the network "
                           f"({type(model).__name__}, {len(expected)} keys; file has {len(state_dict)}):\n"
                           + "\n".join(parts)
                           + "\n  Check that the model configuration matches the checkpoint.")
    # take the file's tensors over when they already have the parameters' dtype and layout: the
    # weights are then held once (the model's own, never-written storage is dropped untouched)
    assign = take_over and all(state_dict[k].dtype == v.dtype and state_dict[k].device == v.device
                 and state_dict[k].is_contiguous() for k, v in expected.items())
    try:
        model.load_state_dict(state_dict, strict=True, assign=assign)
    except RuntimeError as err:
        raise WeightsError(f"loading checkpoint{where} failed: {err}") from err
