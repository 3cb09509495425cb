"""Building ablation variants and loading what they share with another checkpoint.

A weights file written by ``colormnet train`` records its network configuration (``model_config``),
so the commands that take ``--weights`` build the right variant from the file alone
(:func:`config_from_file`). The released checkpoint has no such record: it is the default
:class:`~colormnet.config.ModelConfig`, loaded strictly. :func:`load_shared` fills a variant with
every tensor of a checkpoint whose name and shape it shares and reports the rest.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from colormnet.config import ModelConfig
from colormnet.errors import InputError, WeightsError

log = logging.getLogger(__name__)

VARIANT_FIELDS = ("key_encoder", "local_window")


def model_config_dict(cfg: ModelConfig) -> dict[str, Any]:
    """JSON/torch-safe dict of ``cfg`` (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def config_from_dict(data: Mapping[str, Any]) -> ModelConfig:
    """Inverse of :func:`model_config_dict` (unknown keys are an error)."""
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise WeightsError(f"model configuration has unknown fields {unknown}")
    return ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def config_from_file(path: str | Path) -> ModelConfig | None:
    """The ``model_config`` recorded in a weights file by ``colormnet train``, or None (no record, or
    the file cannot be read: loading it reports that). The file is memory-mapped, not read whole."""
    p = Path(path).expanduser()
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a zip-format torch file, unreadable, missing: the loader says what is wrong
        return None
    data = obj.get("model_config") if isinstance(obj, dict) else None
    return config_from_dict(data) if isinstance(data, Mapping) else None


def parse_variant(text: str | None, base: ModelConfig | None = None) -> ModelConfig:
    """``"key_encoder=resnet,local_window=0"`` (or a bare key-encoder name, ``"resnet"``; ``"no-la"``
    = local attention off; ``"la=R"`` = radius R) on top of ``base`` (default: the released shape)."""
    base = base or ModelConfig()
    if not text:
        return base
    changes: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            if name in ("no_la", "no_local_attention"):
                changes["local_window"] = 0
            else:
                changes["key_encoder"] = name
        elif name in ("la", "la_radius", "lambda"):
            changes["local_window"] = 2 * int(value) + 1 if int(value) > 0 else 0
        elif name in VARIANT_FIELDS:
            changes[name] = int(value) if name == "local_window" else value.strip()
        else:
            raise InputError(f"variant {text!r}: unknown setting {name!r} (use key_encoder=..., la=RADIUS, no-la)")
    try:
        return dataclasses.replace(base, **changes)
    except (ValueError, TypeError) as err:
        raise InputError(f"variant {text!r}: {err}") from None


def variant_name(cfg: ModelConfig) -> str:
    """Short label: ``pvgfe``, ``resnet``, ``dino, no LA``, ``concat, LA r=3`` ..."""
    la = "" if cfg.local_window == 15 else (", no LA" if cfg.local_window == 0 else
                                            f", LA r={cfg.local_window // 2}")
    return cfg.key_encoder + la


@dataclass
class SharedLoad:
    """What :func:`load_shared` did: loaded = model keys filled; skipped = (file key, reason);
    not_covered = model keys the file did not provide (they keep their initial values)."""

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.source}: loaded {len(self.loaded)} shared tensors; {len(self.skipped)} file tensors "
                f"not used; {len(self.not_covered)} network tensors not in the file (left initialised)")
        if self.skipped:
            text += "; not used e.g. " + ", ".join(f"{k} ({r})" for k, r in self.skipped[:3])
        if self.not_covered:
            text += "; not covered e.g. " + ", ".join(self.not_covered[:3])
        return text


def load_shared(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "<state_dict>"
                ) -> SharedLoad:
    """Copy every tensor whose name and shape ``model`` shares; report the others (logged)."""
    own = model.state_dict()
    report = SharedLoad(source)
    usable = {}
    for key, value in state_dict.items():
        if key not in own:
            report.skipped.append((key, "not in this variant"))
        elif tuple(own[key].shape) != tuple(value.shape):
            report.skipped.append((key, f"shape {tuple(value.shape)} != {tuple(own[key].shape)}"))
        else:
            usable[key] = value.to(own[key].dtype)
    if not usable:
        raise WeightsError(f"{source}: shares no tensor with this network; is it the right file for this size?")
    model.load_state_dict(usable, strict=False)
    report.loaded = sorted(usable)
    report.not_covered = sorted(k for k in own if k not in usable)
    log.info("%s", report.summary())
    return report
