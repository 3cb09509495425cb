"""The training forward pass over one batch of clips (SPEC section 5, XMem-style), built from the
network's stage methods.

For a clip of T frames (frame 0 = exemplar, its ground-truth chroma is given):

1. keys of all B*T frames in one :meth:`ColorMNet.encode_key` call (shrinkage and selection included);
2. frame 0: value from the ground-truth a'b' with a zero hidden state and the deep (GRU) update;
3. for t = 1 .. T-1:

   * memory frames (:func:`choose_reference_frames`, XMem's rule with ``num_ref_frames`` = 3):
     all earlier frames while t <= num_ref_frames, otherwise frame 0 plus num_ref_frames - 1
     distinct frames drawn uniformly from 1 .. t-1, independently for every clip of the batch;
   * memory readout: :func:`colormnet.memory.readout.similarity` between the reference keys
     (with their shrinkage) and frame t's key (with its selection), then a plain softmax over all
     reference elements (``top_k`` = 0, what the authors' XMem-derived trainer does), or the
     inference-time top-k softmax (``top_k`` > 0); computed in float32 with autocast off;
   * plus the local-attention term from frame t-1's key and value (the true previous frame, whose
     value was encoded from its prediction, or from the ground truth for t = 1);
   * decode; the decoder updates the hidden state on every frame whose successor is decoded
     (frames 1 .. T-2; the update after the last frame would feed nothing);
   * for t < T-1, the prediction (not detached) is encoded as frame t's value, with the deep update
     of the hidden state drawn with probability ``deep_update_prob``.

Loss: L1 between predicted and ground-truth a'b' (normalised units), mean over batch, channels and
pixels per frame, summed over frames 1 .. T-1, computed in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from colormnet.memory import readout as mm
from colormnet.model.key_encoder import KeyFeatures
from colormnet.model.network import ColorMNet
from colormnet.train.config import ForwardConfig


@dataclass
class ForwardResult:
    """Output of :func:`training_forward`.

    Attributes:
        losses: ``"l1_<t>"`` (per frame t = 1 .. T-1) and ``"total"`` (their sum), float32 scalars.
        pred_ab: (B, T-1, 2, H, W) predicted a'b' in (-1, 1) for frames 1 .. T-1.
        references: per frame t = 1 .. T-1, the (B, R_t) memory frame indices that were read.
        deep_updates: per frame t = 1 .. T-2, whether its value encoding ran the GRU update.
    """

    losses: dict[str, torch.Tensor]
    pred_ab: torch.Tensor
    references: list[torch.Tensor]
    deep_updates: list[bool]


def choose_reference_frames(t: int, batch: int, num_ref: int,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """Memory frames for frame ``t`` -> LongTensor (batch, R) on the CPU.

    t <= num_ref: all of 0 .. t-1 (R = t). Otherwise frame 0 followed by num_ref - 1 distinct frames
    drawn uniformly from 1 .. t-1 for each clip (R = num_ref), using ``generator``.
    """
    if t < 1:
        raise ValueError(f"frame index must be >= 1, got {t}")
    if t <= num_ref:
        return torch.arange(t).expand(batch, t).clone()
    rows = [torch.cat([torch.zeros(1, dtype=torch.long),
                       torch.randperm(t - 1, generator=generator)[:num_ref - 1] + 1]) for _ in range(batch)]
    return torch.stack(rows)


def _gather_frames(x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """x (B, T, ...) and frames (B, R) -> (B, R, ...)."""
    batch_index = torch.arange(x.shape[0], device=x.device).unsqueeze(1)
    return x[batch_index, frames.to(x.device)]


def read_memory(query_key: torch.Tensor, query_selection: torch.Tensor, ref_key: torch.Tensor,
                ref_shrinkage: torch.Tensor, ref_value: torch.Tensor, top_k: int = 0) -> torch.Tensor:
    """Batched memory readout of one query frame from R reference frames.

    query_key, query_selection (B, Ck, h, w); ref_key (B, R, Ck, h, w); ref_shrinkage (B, R, 1, h, w);
    ref_value (B, R, G, Cv, h, w) -> readout (B, G, Cv, h, w), float32. Softmax over all R*h*w
    reference elements (``top_k`` = 0) or over the ``top_k`` most similar.
    """
    b, _, h, w = query_key.shape
    with torch.autocast(query_key.device.type, enabled=False):
        mem_key = ref_key.transpose(1, 2).flatten(2)  # (B, Ck, R*h*w)
        mem_shrinkage = ref_shrinkage.transpose(1, 2).flatten(2)  # (B, 1, R*h*w)
        sim = mm.similarity(mem_key, mem_shrinkage, query_key.flatten(2), query_selection.flatten(2))
        affinity = mm.topk_softmax(sim, top_k) if top_k > 0 else torch.softmax(sim, dim=1)
        value = ref_value.permute(0, 2, 3, 1, 4, 5).flatten(3)  # (B, G, Cv, R*h*w)
        out = mm.readout(affinity.unsqueeze(1), value)  # (B, G, Cv, h*w)
    return out.view(b, out.shape[1], out.shape[2], h, w)


def training_forward(model: ColorMNet, images: torch.Tensor, target_ab: torch.Tensor,
                     cfg: ForwardConfig | None = None,
                     generator: torch.Generator | None = None) -> ForwardResult:
    """Run the recurrent training pass over a batch of clips and compute the L1 loss.

    images: (B, T, 3, H, W) L' repeated to 3 channels, in [-1, 1]; target_ab: (B, T, 2, H, W) a'b'.
    H and W must be multiples of ``model.cfg.pad_multiple`` (112). ``generator`` (CPU) drives the
    random reference frames and deep updates (None = torch's global generator).
    """
    cfg = cfg or ForwardConfig()
    if images.dim() != 5 or images.shape[2] != 3 or target_ab.shape[:2] != images.shape[:2] \
            or target_ab.shape[2] != 2 or target_ab.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"expected images (B, T, 3, H, W) and target_ab (B, T, 2, H, W), got "
                         f"{tuple(images.shape)} and {tuple(target_ab.shape)}")
    b, t_len = images.shape[:2]
    multiple = model.cfg.pad_multiple
    if t_len < 2 or images.shape[-2] % multiple or images.shape[-1] % multiple:
        raise ValueError(f"need T >= 2 and H, W multiples of {multiple}, got {tuple(images.shape)}")

    feats = model.encode_key(images.flatten(0, 1), need_shrinkage=True, need_selection=True)

    def per_frame(x: torch.Tensor) -> torch.Tensor:
        return x.view(b, t_len, *x.shape[1:])

    keys, shrinkage, selection = per_frame(feats.key), per_frame(feats.shrinkage), per_frame(feats.selection)
    g16, g8, g4 = per_frame(feats.g16), per_frame(feats.g8), per_frame(feats.g4)

    hidden = model.zero_hidden(keys[:, 0])
    value, hidden = model.encode_value(images[:, 0], g16[:, 0], hidden, target_ab[:, 0], deep_update=True)
    values = [value]
    losses: dict[str, torch.Tensor] = {}
    predictions, references, deep_updates = [], [], []
    for t in range(1, t_len):
        refs = choose_reference_frames(t, b, cfg.num_ref_frames, generator)
        references.append(refs)
        stacked = torch.stack(values, dim=1)  # (B, t, G, Cv, h, w)
        readout = read_memory(keys[:, t], selection[:, t], _gather_frames(keys, refs),
                              _gather_frames(shrinkage, refs), _gather_frames(stacked, refs), cfg.top_k)
        readout = readout + model.local_attention(keys[:, t], keys[:, t - 1], values[t - 1])
        last = t == t_len - 1
        frame_feats = KeyFeatures(keys[:, t], None, selection[:, t], g16[:, t], g8[:, t], g4[:, t])
        ab, hidden = model.decode(frame_feats, readout, hidden, update_hidden=not last)
        predictions.append(ab)
        losses[f"l1_{t}"] = F.l1_loss(ab.float(), target_ab[:, t].float())
        if not last:
            deep = bool(torch.rand((), generator=generator) < cfg.deep_update_prob)
            deep_updates.append(deep)
            value, new_hidden = model.encode_value(images[:, t], g16[:, t], hidden, ab, deep_update=deep)
            values.append(value)
            if deep:
                hidden = new_hidden
    losses["total"] = torch.stack([losses[f"l1_{t}"] for t in range(1, t_len)]).sum()
    return ForwardResult(losses, torch.stack(predictions, dim=1), references, deep_updates)


class TrainingModule(nn.Module):
    """Wraps the network so that one ``forward`` call is one training pass (what DDP needs to hook).

    ``forward(images, target_ab, generator)`` -> (losses dict, pred_ab); see :func:`training_forward`.
    """

    def __init__(self, net: ColorMNet, cfg: ForwardConfig | None = None) -> None:
        super().__init__()
        self.net = net
        self.cfg = cfg or ForwardConfig()

    def forward(self, images: torch.Tensor, target_ab: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        result = training_forward(self.net, images, target_ab, self.cfg, generator)
        return result.losses, result.pred_ab
