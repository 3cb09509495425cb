"""One colorization session = the state of one video, processed a frame at a time.

The network (:class:`colormnet.model.network.ColorMNet`) is stateless; this object owns the memory,
the GRU hidden state, the local-attention reference and the frame counter. With one exemplar it
reproduces the authors' ``test.py`` loop in both of its modes:

* keyframe exemplar (default mode): ``step(frame0, exemplar_ab=ab)`` - the exemplar is the colour
  version of that frame; its ab is returned as the frame's output.
* free reference (``--FirstFrameIsNotExemplar``): ``add_reference(l, ab)`` before the first frame;
  every frame is then predicted.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from colormnet.color import pad_to_multiple, unpad
from colormnet.config import MemoryConfig
from colormnet.device import autocast, model_device
from colormnet.memory.confidence import local_confidence
from colormnet.memory.manager import ColorMemory
from colormnet.model.key_encoder import KeyFeatures
from colormnet.model.network import ColorMNet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepInfo:
    """What happened at one step (for logs and tests)."""

    t: int
    is_memory_frame: bool
    deep_update: bool
    used_local_attention: bool
    memory_sizes: dict[str, int]


REDUCED_STAGES_DEFAULT = frozenset({"key", "decode", "value"})
"""Network stages run under ``autocast_dtype`` by default (all of them). Whatever runs reduced, the
session's state is kept in float32: memory keys/values, the GRU hidden state and the predicted ab."""


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX); without it CPU bf16 is slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _float(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None or t.dtype == torch.float64 else t.float()


class ColorizationSession:
    """Per-video state. Frames are given as L' maps (H, W) in [-1, 1]; chroma as a'b' (2, H, W)."""

    def __init__(self, model: ColorMNet, memory: MemoryConfig | None = None,
                 autocast_dtype: torch.dtype | None = None,
                 reduced_stages: frozenset[str] = REDUCED_STAGES_DEFAULT) -> None:
        """``autocast_dtype`` (torch.float16 / torch.bfloat16) runs the network stages named in
        ``reduced_stages`` ("key" = key encoder + projection, "decode" = decoder,
        "value" = value encoder) under autocast; local attention, memory maths and the stored state
        stay in float32.
        None = the model's own precision everywhere."""
        self.model = model
        self.cfg = memory or MemoryConfig()
        self.autocast_dtype = autocast_dtype
        self.reduced_stages = frozenset(reduced_stages)
        if autocast_dtype == torch.bfloat16 and self.device.type == "cpu" and not cpu_has_native_bf16():
            log.warning("this CPU has no native bfloat16 (AVX512-BF16/AMX): bf16 is likely slower than "
                        "fp32 here; consider --precision fp32")
        self.memory = ColorMemory(self.cfg)
        self.t = -1
        self.last_memory_t = 0
        self.last_deep_update_t = 0
        self.hidden: torch.Tensor | None = None
        self.la_ref: tuple[torch.Tensor, torch.Tensor] | None = None  # key, value of the last memory frame
        self.la_ref_confidence: torch.Tensor | None = None  # (h, w) confidence of that frame
        self.frame_size: tuple[int, int] | None = None
        self.last_info: StepInfo | None = None
        self.last_confidence: torch.Tensor | None = None  # (H, W) of the last step, see memory.confidence

    @property
    def device(self) -> torch.device:
        return model_device(self.model)

    def _autocast(self, stage: str):
        """Autocast context for one network stage ("key", "decode", "value")."""
        return autocast(self.device, self.autocast_dtype if stage in self.reduced_stages else None)

    def _encode_key(self, image: torch.Tensor, need_shrinkage: bool, need_selection: bool) -> KeyFeatures:
        with self._autocast("key"):
            feats = self.model.encode_key(image, need_shrinkage=need_shrinkage, need_selection=need_selection)
        if self.autocast_dtype is None:
            return feats
        # the memory keys in float32; g16/g8/g4 stay in the autocast dtype when their consumers
        # (decoder, value encoder) run reduced too
        feats = feats._replace(key=_float(feats.key), shrinkage=_float(feats.shrinkage),
                               selection=_float(feats.selection))
        if not {"decode", "value"} <= self.reduced_stages:
            feats = feats._replace(g16=_float(feats.g16), g8=_float(feats.g8), g4=_float(feats.g4))
        return feats

    def _encode_value(self, image: torch.Tensor, g16: torch.Tensor, hidden: torch.Tensor, ab: torch.Tensor,
                      deep_update: bool) -> tuple[torch.Tensor, torch.Tensor]:
        with self._autocast("value"):
            value, hidden = self.model.encode_value(image, g16, hidden, ab, deep_update=deep_update)
        return (value, hidden) if self.autocast_dtype is None else (_float(value), _float(hidden))

    def _prepare(self, l_norm: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        l_norm = torch.as_tensor(l_norm).to(self.device, next(self.model.parameters()).dtype)
        if l_norm.dim() != 2:
            raise ValueError(f"expected an L' map of shape (H, W), got {tuple(l_norm.shape)}")
        if self.frame_size is None:
            self.frame_size = tuple(l_norm.shape)
        elif tuple(l_norm.shape) != self.frame_size:
            raise ValueError(f"frame size {tuple(l_norm.shape)} differs from the session's {self.frame_size}")
        image, pad = pad_to_multiple(l_norm.expand(1, 3, *l_norm.shape), self.model.cfg.pad_multiple)
        return image, pad

    def _prepare_ab(self, ab: torch.Tensor) -> torch.Tensor:
        ab = torch.as_tensor(ab).to(self.device, next(self.model.parameters()).dtype)
        if ab.shape != (2, *self.frame_size):
            raise ValueError(f"exemplar ab must have shape (2, {self.frame_size[0]}, {self.frame_size[1]}), "
                             f"got {tuple(ab.shape)}")
        return pad_to_multiple(ab.unsqueeze(0), self.model.cfg.pad_multiple)[0]

    @torch.inference_mode()
    def add_reference(self, l_norm: torch.Tensor, ab: torch.Tensor) -> None:
        """Add a free colour reference (not a frame of the video) to permanent memory.

        l_norm (H, W) and ab (2, H, W) at the video's frame size. Encoded from its own L', with a zero
        hidden state and no deep update; never used as the local-attention reference.
        """
        image, _ = self._prepare(l_norm)
        ab = self._prepare_ab(ab)
        feats = self._encode_key(image, need_shrinkage=True, need_selection=True)
        value, _ = self._encode_value(image, feats.g16, self.model.zero_hidden(feats.key), ab, deep_update=False)
        self.memory.add(feats.key, feats.shrinkage, value, feats.selection, permanent=True)

    def reset_shot(self) -> None:
        """A scene cut before the next frame: forget what was propagated from the previous shot
        (working and long-term memory, the local-attention reference, the hidden state). Exemplars
        in permanent memory stay; the next frame is processed like the first frame of a video."""
        self.memory.clear_propagated()
        self.hidden = None
        self.la_ref = self.la_ref_confidence = None
        self.last_memory_t = self.last_deep_update_t = self.t + 1

    @torch.inference_mode()
    def encode_keys(self, l_norms: Sequence[torch.Tensor]) -> list[KeyFeatures]:
        """Key features of several upcoming frames in one batch (look-ahead; the key encoder does
        not depend on the session's state). l_norms: (H, W) L' maps at the session's frame size.

        Returns one :class:`KeyFeatures` (B = 1, shrinkage and selection included) per frame, for
        :meth:`step` ``key_features``; the same numbers as the per-frame encoding up to float rounding.
        """
        images = torch.cat([self._prepare(l_norm)[0] for l_norm in l_norms])
        feats = self._encode_key(images, need_shrinkage=True, need_selection=True)
        # key/shrinkage/selection may be stored in memory: copies, so no frame keeps the batch alive
        return [KeyFeatures(feats.key[i:i + 1].clone(), feats.shrinkage[i:i + 1].clone(),
                            feats.selection[i:i + 1].clone(), feats.g16[i:i + 1], feats.g8[i:i + 1],
                            feats.g4[i:i + 1]) for i in range(len(l_norms))]

    @torch.inference_mode()
    def step(self, l_norm: torch.Tensor, exemplar_ab: torch.Tensor | None = None,
             is_last: bool = False, key_features: KeyFeatures | None = None) -> torch.Tensor:
        """Colorize the next frame.

        l_norm: (H, W) L' of the frame. exemplar_ab: (2, H, W) a'b' when this frame has a keyframe
        exemplar (its colour version); it is then stored in permanent memory and returned as is.
        is_last: the frame is the video's last (it is then not written to memory, as the authors do).
        key_features: this frame's features from :meth:`encode_keys` (else they are computed here).
        Returns a'b' (2, H, W) float32 in (-1, 1) on the model's device; its confidence (H, W) in
        [0, 1] is then in :attr:`last_confidence` (see :mod:`colormnet.memory.confidence`).
        """
        return self._step(l_norm, exemplar_ab, is_last, key_features).float()

    def _step(self, l_norm: torch.Tensor, exemplar_ab: torch.Tensor | None, is_last: bool,
              key_features: KeyFeatures | None = None) -> torch.Tensor:
        self.t += 1
        t, cfg, model = self.t, self.cfg, self.model
        image, pad = self._prepare(l_norm)
        has_exemplar = exemplar_ab is not None
        if not has_exemplar and self.memory.permanent.size == 0:
            raise RuntimeError("no exemplar yet: give frame 0's exemplar_ab or call add_reference() first")
        first_prediction = self.hidden is None and not has_exemplar  # free-reference mode, first frame
        is_memory = not is_last and (has_exemplar or self.la_ref is None
                                     or t - self.last_memory_t >= cfg.mem_every)
        sync = cfg.deep_update_every < 0  # deep update exactly on memory frames
        if has_exemplar:
            deep_update = is_memory
        else:
            due = sync or t - self.last_deep_update_t >= cfg.deep_update_every
            deep_update = is_memory and due and not first_prediction
        decoder_update = not is_last and not first_prediction and not (sync and is_memory)
        if key_features is None:
            feats = self._encode_key(image, need_shrinkage=is_memory, need_selection=True)
        elif key_features.shrinkage is None or key_features.selection is None:
            raise ValueError("key_features must include shrinkage and selection (see encode_keys)")
        else:
            feats = key_features  # its shrinkage is unused unless this is a memory frame
        if self.hidden is None:
            self.hidden = model.zero_hidden(feats.key)

        used_la = False
        if has_exemplar:
            ab = self._prepare_ab(exemplar_ab)
            confidence = torch.ones(feats.key.shape[-2:], device=feats.key.device)
        else:
            readout = self.memory.read(feats.key, feats.selection)
            confidence = self.memory.read_confidence[0]
            if self.la_ref is not None and model.short_term_attn is not None:
                # float32 always: few FLOPs, and its 15x15-window softmax feeds the memory readout
                readout = readout + model.local_attention(feats.key, *self.la_ref)
                la_weights = model.short_term_attn.weights(feats.key, self.la_ref[0])
                confidence = (confidence + local_confidence(la_weights, feats.key, feats.selection,
                                                            self.la_ref[0], self.la_ref_confidence)) / 2
                used_la = True
            with self._autocast("decode"):
                ab, hidden = model.decode(feats, readout, self.hidden, update_hidden=decoder_update)
            ab = ab.float()
            if decoder_update:
                self.hidden = hidden.float()

        if is_memory:
            value, hidden = self._encode_value(image, feats.g16, self.hidden, ab, deep_update=deep_update)
            self.memory.add(feats.key, feats.shrinkage, value, feats.selection, permanent=has_exemplar,
                            confidence=confidence)
            self.last_memory_t = t
            self.la_ref = (feats.key, value)
            self.la_ref_confidence = confidence
            if deep_update:
                self.hidden = hidden
                self.last_deep_update_t = t
        self.last_info = StepInfo(t, is_memory, is_memory and deep_update, used_la, self.memory.sizes)
        full = F.interpolate(confidence.float()[None, None], size=image.shape[-2:], mode="bilinear",
                             align_corners=False)
        self.last_confidence = unpad(full, pad)[0, 0].clamp(0, 1)
        return unpad(ab, pad)[0]
