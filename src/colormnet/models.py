"""Named models: which network shape goes with which weights, and the one way to build a network.

Every entry of :data:`MODELS` pairs a :class:`~colormnet.config.ModelConfig` with a weights source:

* ``colormnet``: the released architecture with the authors' checkpoint (``colormnet`` in
  :data:`colormnet.weights.CHECKPOINTS`; CC BY-NC-SA 4.0, non-commercial research use), found
  through :func:`colormnet.weights.resolve_weights` and downloaded only when asked;
* ``recipe``: the released architecture filled with the parity fixtures' deterministic weights
  (:mod:`colormnet.testing.recipe`): real cost and numerics, meaningless colours; for trying the
  pipeline and timing it without the checkpoint;
* ``tiny``: :meth:`ModelConfig.tiny` with seeded random weights (tests, quick runs).

A user checkpoint file (``weights=PATH``) replaces the entry's source and is loaded strictly into
the entry's configuration. :func:`build_model` records where the weights came from in the model's
``weights_source`` attribute (a path, ``"recipe"`` or ``"random"``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from colormnet.config import ModelConfig
from colormnet.errors import InputError

if TYPE_CHECKING:
    import torch

    from colormnet.model.network import ColorMNet

log = logging.getLogger(__name__)

WEIGHT_SOURCES = ("checkpoint", "recipe", "random")


@dataclass(frozen=True)
class ModelSpec:
    """One named model. ``source``: one of :data:`WEIGHT_SOURCES`; ``checkpoint``: the name in
    :data:`colormnet.weights.CHECKPOINTS` when ``source == "checkpoint"``."""

    name: str
    config: ModelConfig
    source: str
    description: str
    checkpoint: str | None = None


MODELS = MappingProxyType({
    "colormnet": ModelSpec("colormnet", ModelConfig(), "checkpoint",
                           "the released ColorMNet network with the authors' checkpoint", checkpoint="colormnet"),
    "recipe": ModelSpec("recipe", ModelConfig(), "recipe",
                        "the released network with deterministic pseudo-random weights (results NOT meaningful)"),
    "tiny": ModelSpec("tiny", ModelConfig.tiny(), "random", "a tiny random-weight variant (tests)"),
})


def get_model_spec(name: str) -> ModelSpec:
    """The registry entry ``name``; InputError listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; known: {', '.join(MODELS)}") from None


def build_model(name: str = "colormnet", *, weights: str | Path | None = None,
                device: str | torch.device = "cpu", download: bool = False, pretrained: bool = True,
                config: ModelConfig | None = None, seed: int | None = 0) -> ColorMNet:
    """The network of registry entry ``name``, in eval mode on ``device``.

    weights: a checkpoint file to load instead of the entry's own source (strict key/shape check).
    download: let the ``colormnet`` entry fetch the released checkpoint when it is not found locally
    (otherwise a missing checkpoint raises WeightsError with instructions).
    pretrained: False = torch's default initialisation (training from scratch). Random weights are
    drawn after ``torch.manual_seed(seed)`` without disturbing the global generator, or, with
    ``seed=None``, from the global generator as the caller left it.
    config: another network shape for the ``recipe`` / ``tiny`` entries (or a user file); by default a
    weights file written by ``colormnet train`` rebuilds the variant it records (key encoder, LA radius).
    Weights are never loaded twice: the network is built on the ``meta`` device and filled once.
    """
    import torch

    from colormnet.model.network import ColorMNet
    from colormnet.weights import load_into, load_state_dict_file, resolve_weights

    spec = get_model_spec(name)
    if config is None and weights is not None and pretrained:
        from colormnet.model.variants import config_from_file

        config = config_from_file(weights)  # a file from 'colormnet train' records its network shape
    if config is not None and spec.source == "checkpoint" and weights is None and pretrained:
        raise InputError(f"model {name!r} has the released checkpoint's shape; a different config needs "
                         "weights=FILE, pretrained=False, or the recipe/tiny models")
    cfg = config or spec.config
    if weights is not None and spec.source == "recipe":
        raise InputError("give either a checkpoint file or the recipe weights, not both")
    if not pretrained or (spec.source == "random" and weights is None):
        if seed is None:
            model = ColorMNet(cfg)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = ColorMNet(cfg)
        model.weights_source = "random"
        return model.eval().to(device)
    with torch.device("meta"):
        model = ColorMNet(cfg)
    model = model.to_empty(device="cpu")
    if weights is None and spec.source == "recipe":
        from colormnet.testing.recipe import recipe_state_dict

        load_into(model, recipe_state_dict(model), source="recipe", take_over=True)
        model.weights_source = "recipe"
    else:
        path = resolve_weights(weights, name=spec.checkpoint or "colormnet", download=download)
        load_into(model, load_state_dict_file(path), source=str(path), take_over=True)
        log.info("loaded %s", path)
        model.weights_source = str(path)
    return _inference_layout(model.eval(), device)


def _inference_layout(model: ColorMNet, device: str | torch.device) -> ColorMNet:
    """The trained network on ``device`` in the layout it runs fastest in: conv weights channels_last
    on CPU and CUDA (oneDNN and cuDNN then skip the per-call reorders of NCHW weights; ~9 % less CPU
    time per frame on the full network, same outputs up to float rounding). Converted in place, one
    tensor at a time, so the weights are still held once."""
    import torch

    device = torch.device(device)
    if device.type in ("cpu", "cuda"):
        return model.to(device, memory_format=torch.channels_last)
    return model.to(device)
