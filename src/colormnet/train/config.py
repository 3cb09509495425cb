"""Training configuration: frozen dataclasses with the paper's recipe as defaults, read from a
JSON or TOML file plus ``key=value`` overrides. Torch-free (``colormnet train --print-config``).

:class:`TrainConfig` holds the run; its ``forward`` field is the nested :class:`ForwardConfig` of
the training forward pass (``forward.top_k``, ...). The model shape is a named model of
:data:`colormnet.models.MODELS`; the memory settings of inference are :class:`colormnet.config.MemoryConfig`.

File format: a table of ``TrainConfig`` field names (JSON object or TOML top level; a TOML
``[train]`` table is accepted too); a nested config is a sub-table (``[forward]`` in TOML, an object
in JSON). Overrides are strings ``key=value`` (``forward.top_k=30`` for nested ones) parsed by the
field's type: bool (true/false/yes/no/on/off/1/0), int, float, str, tuples (comma-separated
``120000,140000`` or a JSON list ``[120000, 140000]``; an empty value gives an empty tuple).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colormnet.config import KEY_ENCODERS
from colormnet.errors import InputError

MODEL_SIZES = ("full", "tiny")
INIT_MODES = ("colormnet", "backbones", "random")
AMP_MODES = ("off", "fp16", "bf16")
EXTRA_CHANNEL_INITS = ("orthogonal", "zero")


@dataclass(frozen=True)
class ForwardConfig:
    """Knobs of the training forward (defaults = the authors' trainer).

    Attributes:
        num_ref_frames: memory frames per readout (frame 0 plus random earlier ones).
        deep_update_prob: probability of the value encoder's GRU update after a predicted frame.
        top_k: 0 = plain softmax over all reference elements; k > 0 = top-k softmax.
    """

    num_ref_frames: int = 3
    deep_update_prob: float = 0.2
    top_k: int = 0

    def __post_init__(self) -> None:
        if self.num_ref_frames < 1 or not 0 <= self.deep_update_prob <= 1 or self.top_k < 0:
            raise ValueError(f"invalid ForwardConfig {self}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs. Defaults = the authors' stage-2 recipe (SPEC section 5).

    Data:
        data_root: training clips, ``<data_root>/<clip>/<frame>.jpg|png`` (colour frames). Required.
        val_root: validation clips (same layout; frame 0's colours are the exemplar); "" = no validation.
        out_dir: run folder (checkpoints, ``config.json``, CSV/TensorBoard logs).
        num_frames: frames per training sample (T).
        crop_size: side of the square training crop; must be a multiple of 112 (the network's padding
            multiple) so no padding is needed.
        batch_size: global batch (split evenly over the DDP ranks).
        num_workers: DataLoader worker processes per rank (0 = load in the main process).
        loader_chunk: iterations per data "epoch": the DataLoader iterator is rebuilt (and the dataset's
            epoch counter advanced) at least this often; the max-jump schedule and the fine-tune switch
            also start new epochs at their exact iterations.
        finetune_from: iteration from which the fine-tune phase starts (per-frame affine augmentation
            off, as the authors' last 10k iterations); -1 = never.
    Model and initialisation:
        model: "full" (the released architecture) or "tiny" (:meth:`ModelConfig.tiny`, for tests).
        init: "colormnet" = fine-tune from the released checkpoint (``weights``, else $COLORMNET_WEIGHTS or
            the cache; never downloaded here); "backbones" = ImageNet ResNet-50/ResNet-18 and DINOv2
            ViT-S/14 files (``resnet50``, ``resnet18``, ``dinov2``; any left empty stays random);
            "random" = seeded random initialisation only.
        extra_channel_init: how the ResNet-18 conv1 is widened from 3 to 5 input channels:
            "orthogonal" (random, as XMem/ColorMNet) or "zero".
        key_encoder, local_window: ablation variants of the network (also written ``model.key_encoder=``,
            ``model.local_window=``; see :class:`colormnet.config.ModelConfig`): "pvgfe" (the paper's),
            "resnet", "dino" or "concat"; local-attention window 2 x lambda + 1 (15) or 0 = off. With
            init=colormnet a variant loads the tensors it shares with the released checkpoint (reported).
    Training forward (see :mod:`colormnet.train.forward`):
        forward: :class:`ForwardConfig` (``forward.num_ref_frames``, ``forward.deep_update_prob``,
            ``forward.top_k``: 0 = plain softmax over all reference elements, the authors' training).
    Optimisation:
        iterations: total iterations (150k + 10k fine-tune).
        lr, weight_decay: AdamW.
        lr_milestones, lr_gamma: MultiStepLR (stepped every iteration).
        amp: mixed precision on CUDA: "fp16" (with GradScaler, the authors' choice), "bf16" (no scaler) or
            "off". Ignored on CPU (always float32).
        grad_clip: max global gradient L2 norm; 0 = no clipping (the authors' choice).
        freeze_dino: keep ``key_encoder.network2`` (DINOv2 + its 1x1 conv/BN) frozen. The network runs
            that branch under no_grad (as the authors' code does), so it never trains either way; False
            only leaves requires_grad on (and keeps BatchNorm there in eval mode all the same).
        model_eval_mode: train with the whole network in eval mode (BatchNorm uses and keeps its stored
            statistics), as the authors' trainer does. False = train mode except the frozen DINOv2 branch.
        seed: seeds python/numpy/torch before the model is built, the data sampler and augmentations.
        device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
        flush_denormal: on the CPU, treat subnormal floats as zero (``torch.set_flush_denormal``).
            Saturated tanh/sigmoid outputs give subnormal gradients that slow x86 kernels by 10x and
            more; flushing them changes results only below 1.2e-38.
    Logging, checkpoints, validation:
        log_every: iterations per CSV/TensorBoard row (losses averaged over the window and the ranks).
        save_every: iterations per checkpoint (full state, ``checkpoint.pth``) and model snapshot.
        keep_snapshots: also keep a model-only ``model_<iteration>.pth`` at every save.
        val_every: iterations per validation (0 = never; needs ``val_root``).
        val_frame_stride: validation uses every k-th frame of each clip (as a shorter clip).
        val_max_frames: at most this many frames per validation clip after striding (0 = all).
        val_max_side: downscale validation frames so the longer side is at most this (0 = native).
        tensorboard: also write TensorBoard logs when the ``tensorboard`` package is installed.
        ddp_find_unused: DDP ``find_unused_parameters``; switched on automatically when it is needed
            (T < 3, where the decoder's hidden-state update never runs, or freeze_dino off).
    """

    data_root: str = ""
    val_root: str = ""
    out_dir: str = "runs/colormnet"
    num_frames: int = 8
    crop_size: int = 448
    batch_size: int = 2
    num_workers: int = 4
    loader_chunk: int = 1000
    finetune_from: int = 150000

    model: str = "full"
    init: str = "colormnet"
    weights: str = ""
    resnet50: str = ""
    resnet18: str = ""
    dinov2: str = ""
    extra_channel_init: str = "orthogonal"
    key_encoder: str = "pvgfe"
    local_window: int = 15

    forward: ForwardConfig = field(default_factory=ForwardConfig)

    iterations: int = 160000
    lr: float = 2e-5
    weight_decay: float = 0.05
    lr_milestones: tuple[int, ...] = (120000,)
    lr_gamma: float = 0.1
    amp: str = "fp16"
    grad_clip: float = 0.0
    freeze_dino: bool = True
    model_eval_mode: bool = True
    seed: int = 14159265
    device: str = "auto"
    flush_denormal: bool = True

    log_every: int = 100
    save_every: int = 5000
    keep_snapshots: bool = True
    val_every: int = 2500
    val_frame_stride: int = 10
    val_max_frames: int = 0
    val_max_side: int = 0
    tensorboard: bool = True
    ddp_find_unused: bool = False

    def __post_init__(self) -> None:
        problems = []
        for name, choices in (("model", MODEL_SIZES), ("init", INIT_MODES), ("amp", AMP_MODES),
                              ("extra_channel_init", EXTRA_CHANNEL_INITS)):
            if getattr(self, name) not in choices:
                problems.append(f"{name}={getattr(self, name)!r} (choose one of {', '.join(choices)})")
        for name in ("num_frames", "crop_size", "batch_size", "loader_chunk", "iterations", "log_every",
                     "save_every", "val_frame_stride"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)} (need >= 1)")
        for name in ("num_workers", "val_every", "val_max_frames", "val_max_side", "seed"):
            if getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)} (need >= 0)")
        if self.num_frames < 2:
            problems.append(f"num_frames={self.num_frames} (need >= 2: frame 0 is the exemplar)")
        if self.crop_size % 112:
            problems.append(f"crop_size={self.crop_size} (need a multiple of 112)")
        if self.key_encoder not in KEY_ENCODERS:
            problems.append(f"key_encoder={self.key_encoder!r} (choose one of {', '.join(KEY_ENCODERS)})")
        if self.local_window < 0 or (self.local_window and self.local_window % 2 != 1):
            problems.append(f"local_window={self.local_window} (need 0 = off, or odd = 2 x radius + 1)")
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip < 0 or self.lr_gamma <= 0:
            problems.append("need lr > 0, weight_decay >= 0, grad_clip >= 0, lr_gamma > 0")
        if self.finetune_from < -1:
            problems.append(f"finetune_from={self.finetune_from} (need >= 0, or -1 for never)")
        if list(self.lr_milestones) != sorted(self.lr_milestones):
            problems.append(f"lr_milestones={self.lr_milestones} (need increasing iterations)")
        if problems:
            raise InputError("invalid training configuration: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (nested configs become dicts, tuples lists)."""
        return _plain(self)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [_plain(v) for v in obj]
    return obj


def _field_types(cls: type | None = None) -> dict[str, Any]:
    return typing.get_type_hints(cls or TrainConfig)


def _option_names(cls: type, prefix: str = "") -> list[str]:
    names = []
    for name, kind in _field_types(cls).items():
        names += _option_names(kind, f"{prefix}{name}.") if dataclasses.is_dataclass(kind) else [prefix + name]
    return names


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


_EXPECTED = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}


def _number(value: Any) -> int | float | None:
    """A number from a number or numeric text; None for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if not isinstance(value, str):
        return value
    for parse in (int, float):
        try:
            return parse(value.strip())
        except ValueError:
            pass
    return None


def _scalar(kind: type, value: Any) -> Any:
    """``value`` as a ``kind`` (bool, int, float, str), or None when it is not one."""
    if kind is bool:
        text = value.strip().lower() if isinstance(value, str) else None
        return value if isinstance(value, bool) else (text in _TRUE if text in _TRUE | _FALSE else None)
    if kind is str:
        return value if isinstance(value, str) else None
    number = _number(value)
    if kind is float or number is None:
        return None if number is None else float(number)
    return number if isinstance(number, int) else int(number) if number.is_integer() else None


def _convert(name: str, value: Any, kind: Any, from_text: bool) -> Any:
    """Convert ``value`` (a file value, or override text when ``from_text``) to the field type ``kind``."""
    if typing.get_origin(kind) is tuple:
        item_type = typing.get_args(kind)[0]
        if from_text:
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
            except json.JSONDecodeError as err:
                raise InputError(f"'{name}': {value!r} is not a JSON list ({err})") from None
        elif not isinstance(value, list | tuple):
            value = [value]
        return tuple(_convert(name, item, item_type, from_text and isinstance(item, str)) for item in value)
    result = _scalar(kind, value)
    if result is None:
        raise InputError(f"'{name}': expected {_EXPECTED[kind]}, got {value!r}")
    return result


MODEL_FIELDS = ("key_encoder", "local_window")
"""Network fields settable in training, also written ``model.<field>``."""


def _apply(values: dict[str, Any], items: dict[str, Any], source: str, from_text: bool,
           cls: type | None = None, prefix: str = "") -> None:
    """Set ``items`` (``name``, dotted ``sub.name`` or nested tables) into the nested dict ``values``."""
    cls = cls or TrainConfig
    types = _field_types(cls)
    for key, value in items.items():
        if not prefix and key.startswith("model.") and key[len("model."):] in MODEL_FIELDS:
            key = key[len("model."):]
        name, _, rest = key.partition(".")
        kind = types.get(name)
        nested = kind is not None and dataclasses.is_dataclass(kind)
        if kind is None or (rest and not nested):
            raise InputError(f"{source}: unknown training option {prefix + key!r}; known options: "
                             f"{', '.join(sorted(_option_names(TrainConfig)))}")
        if nested:
            if not rest and not isinstance(value, dict):
                raise InputError(f"{source}: {prefix + name!r} is a group of options; set them one by one, "
                                 f"e.g. {_option_names(kind, prefix + name + '.')[0]}=...")
            _apply(values[name], {rest: value} if rest else value, source, from_text, kind, f"{prefix}{name}.")
            continue
        try:
            values[name] = _convert(prefix + name, value, kind, from_text)
        except InputError as err:
            raise InputError(f"{source}: {err}") from None


def _toml() -> Any:
    """``tomllib`` (Python >= 3.11), else the ``tomli`` backport."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise InputError("reading TOML needs Python >= 3.11 or 'pip install tomli'; "
                             "or use a .json config") from None
    return tomllib


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The raw table of a ``.json`` or ``.toml`` config file (TOML may nest it under ``[train]``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"training config file {p} does not exist")
    suffix = p.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(p.read_text(encoding="utf-8"))
        elif suffix == ".toml":
            data = _toml().loads(p.read_text(encoding="utf-8"))
            if set(data) == {"train"} and isinstance(data["train"], dict):
                data = data["train"]
        else:
            raise InputError(f"training config file {p}: unknown extension {p.suffix!r}; use .json or .toml")
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as err:  # TOMLDecodeError is a ValueError
        raise InputError(f"training config file {p} cannot be parsed: {err}") from None
    if not isinstance(data, dict):
        raise InputError(f"training config file {p} must hold a table of options, not {type(data).__name__}")
    return data


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["key=value", ...]`` -> ``{key: value}`` (text; converted later by field type)."""
    items: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"override {item!r} is not of the form key=value")
        items[key.strip()] = value
    return items


def _build(values: dict[str, Any], cls: type | None = None) -> Any:
    cls = cls or TrainConfig
    types = _field_types(cls)
    kwargs = {}
    for key, value in values.items():
        kind = types[key]
        if dataclasses.is_dataclass(kind):
            kwargs[key] = _build(value, kind)
        else:
            kwargs[key] = tuple(value) if typing.get_origin(kind) is tuple else value
    try:
        return cls(**kwargs)
    except ValueError as err:  # a nested config's own check
        raise InputError(f"invalid training configuration: {err}") from None


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                base: TrainConfig | None = None) -> TrainConfig:
    """Defaults (or ``base``) <- config file ``path`` (optional) <- ``key=value`` overrides."""
    values = (base or TrainConfig()).to_dict()
    if path is not None:
        _apply(values, read_config_file(path), f"config file {path}", from_text=False)
    _apply(values, parse_overrides(overrides), "override", from_text=True)
    return _build(values)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Inverse of :meth:`TrainConfig.to_dict` (unknown keys are an error, missing ones take defaults)."""
    values = TrainConfig().to_dict()
    _apply(values, data, "saved config", from_text=False)
    return _build(values)
