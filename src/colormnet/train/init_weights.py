"""Initial weights for training: the released ColorMNet checkpoint (fine-tuning), or ImageNet /
self-supervised backbones supplied by the user as files (nothing is downloaded).

Backbone key mapping (standard torchvision / DINOv2-hub names on the left):

- ResNet-50 (``resnet50-*.pth``): ``conv1``, ``bn1``, ``layer1``, ``layer2``, ``layer3`` ->
  ``key_encoder.conv1``, ``key_encoder.bn1``, ``key_encoder.res2``, ``key_encoder.layer2``,
  ``key_encoder.layer3``; ``layer4.*`` and ``fc.*`` are not used.
- ResNet-18 (``resnet18-*.pth``): ``conv1``, ``bn1``, ``layer1..3`` -> ``value_encoder.*``;
  ``conv1.weight`` (64, 3, 7, 7) is widened to 5 input channels: the 3 ImageNet channels see
  L' L' L' and the 2 new chroma channels are initialised ``"orthogonal"`` (random, what XMem and the
  authors do) or ``"zero"``. ``layer4.*`` and ``fc.*`` are not used.
- DINOv2 ViT-S/14 (``dinov2_vits14_pretrain.pth``): every key -> ``key_encoder.network2.backbone.<key>``
  (``register_tokens`` or other keys the network lacks are skipped and reported).

A leading ``module.`` (DDP) prefix is stripped, and a file wrapping its state_dict under
``model``/``state_dict``/``network`` is accepted (:func:`colormnet.weights.load_state_dict_file`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from colormnet.errors import WeightsError
from colormnet.weights import load_into, load_state_dict_file, resolve_weights

log = logging.getLogger(__name__)

RESNET50_MAP = (("conv1.", "key_encoder.conv1."), ("bn1.", "key_encoder.bn1."), ("layer1.", "key_encoder.res2."),
                ("layer2.", "key_encoder.layer2."), ("layer3.", "key_encoder.layer3."))
RESNET18_MAP = (("conv1.", "value_encoder.conv1."), ("bn1.", "value_encoder.bn1."),
                ("layer1.", "value_encoder.layer1."), ("layer2.", "value_encoder.layer2."),
                ("layer3.", "value_encoder.layer3."))
DINOV2_PREFIX = "key_encoder.network2.backbone."
_UNUSED_RESNET = ("layer4.", "fc.")


@dataclass
class InitReport:
    """What one source filled in.

    Attributes:
        source: description (file path).
        loaded: model keys that received values.
        skipped: (file key, reason) for file entries that were not used.
        not_covered: model keys of the targeted part that the file did not provide (left as they were).
    """

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (f"{self.source}: loaded {len(self.loaded)} tensors, skipped {len(self.skipped)}, "
                f"{len(self.not_covered)} targeted model tensors not covered")
        if self.skipped:
            text += "; skipped e.g. " + ", ".join(f"{k} ({r})" for k, r in self.skipped[:3])
        if self.not_covered:
            text += "; not covered e.g. " + ", ".join(self.not_covered[:3])
        return text


def _read(source: str | Path | Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    if isinstance(source, Mapping):
        sd, name = dict(source), "<state_dict>"
    else:
        sd, name = load_state_dict_file(source), str(source)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd, name


def _copy_mapped(model: nn.Module, mapped: dict[str, torch.Tensor], report: InitReport,
                 target_prefixes: tuple[str, ...]) -> InitReport:
    """Copy the model-keyed tensors in ``mapped`` into ``model`` (shape-checked)."""
    own = model.state_dict()
    usable = {}
    for key, value in mapped.items():
        if key not in own:
            report.skipped.append((key, "no such tensor in the network"))
        elif tuple(own[key].shape) != tuple(value.shape):
            report.skipped.append((key, f"shape {tuple(value.shape)} != network {tuple(own[key].shape)}"))
        else:
            usable[key] = value.to(own[key].dtype)
    if not usable:
        raise WeightsError(f"{report.source}: no tensor matches the network "
                           f"({len(report.skipped)} skipped, e.g. {report.skipped[:3]}); is it the right file "
                           "for this model size?")
    model.load_state_dict(usable, strict=False)
    report.loaded = sorted(usable)
    report.not_covered = sorted(k for k in own if k.startswith(target_prefixes) and k not in usable)
    log.info("%s", report.summary())
    return report


def _map_resnet(sd: Mapping[str, torch.Tensor], mapping: tuple[tuple[str, str], ...],
                report: InitReport) -> dict[str, torch.Tensor]:
    mapped = {}
    for key, value in sd.items():
        target = next((new + key[len(old):] for old, new in mapping if key.startswith(old)), None)
        if target is not None:
            mapped[target] = value
        elif key.startswith(_UNUSED_RESNET):
            report.skipped.append((key, "not part of ColorMNet"))
        else:
            report.skipped.append((key, "unknown ResNet key"))
    return mapped


def init_from_resnet50(model: nn.Module, source: str | Path | Mapping[str, torch.Tensor]) -> InitReport:
    """Load an ImageNet ResNet-50 (torchvision key names) into the key encoder's CNN trunk."""
    sd, name = _read(source)
    report = InitReport(f"ResNet-50 {name}")
    return _copy_mapped(model, _map_resnet(sd, RESNET50_MAP, report), report,
                        tuple(new for _, new in RESNET50_MAP))


def widen_conv1(weight: torch.Tensor, in_channels: int = 5, mode: str = "orthogonal",
                generator: torch.Generator | None = None) -> torch.Tensor:
    """(out, 3, k, k) -> (out, in_channels, k, k): the extra input channels are "zero" or "orthogonal"
    (``nn.init.orthogonal_`` on an (out, extra, k, k) tensor, as XMem does)."""
    out_ch, c, kh, kw = weight.shape
    extra = weight.new_zeros(out_ch, in_channels - c, kh, kw)
    if mode == "orthogonal":
        nn.init.orthogonal_(extra, generator=generator)
    elif mode != "zero":
        raise ValueError(f"mode must be 'orthogonal' or 'zero', got {mode!r}")
    return torch.cat([weight, extra], dim=1)


def init_from_resnet18(model: nn.Module, source: str | Path | Mapping[str, torch.Tensor],
                       extra_channels: str = "orthogonal",
                       generator: torch.Generator | None = None) -> InitReport:
    """Load an ImageNet ResNet-18 into the value encoder's trunk, widening conv1 to 5 channels."""
    sd, name = _read(source)
    report = InitReport(f"ResNet-18 {name}")
    mapped = _map_resnet(sd, RESNET18_MAP, report)
    conv1 = mapped.get("value_encoder.conv1.weight")
    if conv1 is not None and conv1.dim() == 4 and conv1.shape[1] == 3:
        mapped["value_encoder.conv1.weight"] = widen_conv1(conv1, 5, extra_channels, generator)
    return _copy_mapped(model, mapped, report, tuple(new for _, new in RESNET18_MAP))


def init_from_dinov2(model: nn.Module, source: str | Path | Mapping[str, torch.Tensor]) -> InitReport:
    """Load DINOv2 ViT-S/14 hub weights into ``key_encoder.network2.backbone``."""
    sd, name = _read(source)
    if sd and all(k.startswith("backbone.") for k in sd):
        sd = {k[len("backbone."):]: v for k, v in sd.items()}
    report = InitReport(f"DINOv2 {name}")
    return _copy_mapped(model, {DINOV2_PREFIX + k: v for k, v in sd.items()}, report, (DINOV2_PREFIX,))


def init_from_colormnet(model: nn.Module, path: str | Path | None = None) -> InitReport:
    """Strictly load the released ColorMNet checkpoint (``path``, else $COLORMNET_WEIGHTS or the
    cache; never downloads). Any missing/unexpected/mis-shaped key is a WeightsError. An ablation
    variant (``model.cfg.is_variant``) loads the tensors it shares instead, and reports the rest."""
    found = resolve_weights(path or None, download=False)
    sd = load_state_dict_file(found)
    cfg = getattr(model, "cfg", None)
    if cfg is not None and cfg.is_variant:
        from colormnet.model.variants import load_shared

        shared = load_shared(model, sd, f"ColorMNet checkpoint {found}")
        return InitReport(shared.source, loaded=shared.loaded, skipped=shared.skipped,
                          not_covered=shared.not_covered)
    load_into(model, sd, found)
    report = InitReport(f"ColorMNet checkpoint {found}", loaded=sorted(sd))
    log.info("%s", report.summary())
    return report


def initialise(model: nn.Module, mode: str, *, weights: str = "", resnet50: str = "", resnet18: str = "",
               dinov2: str = "", extra_channels: str = "orthogonal") -> list[InitReport]:
    """Apply ``TrainConfig.init``: "colormnet", "backbones" (empty paths are left random) or "random"."""
    if mode == "colormnet":
        return [init_from_colormnet(model, weights or None)]
    if mode == "random":
        log.info("initialisation: random (seeded); no weights loaded")
        return []
    if mode != "backbones":
        raise ValueError(f"unknown init mode {mode!r}")
    reports = []
    if resnet50:
        reports.append(init_from_resnet50(model, resnet50))
    if resnet18:
        reports.append(init_from_resnet18(model, resnet18, extra_channels))
    if dinov2:
        reports.append(init_from_dinov2(model, dinov2))
    if not reports:
        log.warning("init=backbones but no resnet50/resnet18/dinov2 file given: everything stays random")
    return reports
