"""Confidence of a predicted colour: how well, and from how sure a source, it was read.

Definition (per position x of the 1/16 key grid, value in [0, 1]):

* match of two keys q, m under the query's selection weights e (the readout's own channel weighting):
  ``match(q, m) = max(0, 2 <q, m>_e / (|q|_e^2 + |m|_e^2))``, where ``<q, m>_e = sum_c e_c q_c m_c``;
  1 for identical keys, lower as they differ in direction or length, independent of the keys' scale;
* memory readout: ``c_mem(x) = sum_i w_i(x) * match(q(x), k_i) * c_i`` over the top-k memory elements i
  of x, with ``w_i`` the readout's top-k softmax weights (sum 1) and ``c_i`` the stored confidence of
  element i;
* local attention over the reference frame r: ``c_la(x) = sum_j a_j(x) * match(q(x), k_r(j)) * c_r(j)``
  over the window positions j, with the local-attention weights ``a_j``;
* a predicted frame: ``c = c_mem`` without local attention, else ``(c_mem + c_la) / 2``; an exemplar
  frame (and a free reference): 1. A memory frame stores its c; consolidation gives each prototype the
  affinity-weighted c of the elements it summarises.

So confidence is 1 on exemplars, stays high while frames match their sources closely, decays as
colour is propagated through poorly matching frames, and drops where nothing in memory looks like the
frame (e.g. after a cut to an unseen shot), staying low for that shot since its own frames inherit
the low value. It is a heuristic in the model's key space, not a calibrated probability: compare
frames of one run, not runs of different models.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _match(dot: torch.Tensor, qq: torch.Tensor, mm: torch.Tensor) -> torch.Tensor:
    return (2 * dot / (qq + mm).clamp_min(1e-12)).clamp(0, 1)


def topk_confidence(mem_key: torch.Tensor, query_key: torch.Tensor, query_selection: torch.Tensor | None,
                    weights: torch.Tensor, indices: torch.Tensor, mem_confidence: torch.Tensor) -> torch.Tensor:
    """c_mem: mem_key (1, Ck, N), query key/selection (1, Ck, M), weights/indices (k, M) of the top-k
    softmax, mem_confidence (N,) -> (M,) float32 in [0, 1]."""
    q = query_key[0].float()[:, None, :]
    e = torch.ones_like(q) if query_selection is None else query_selection[0].float()[:, None, :]
    m = mem_key[0].float()[:, indices]  # (Ck, k, M)
    match = _match((e * q * m).sum(0), (e * q * q).sum(0), (e * m * m).sum(0))
    return (weights.float() * match * mem_confidence[indices]).sum(0).clamp(0, 1)


def local_confidence(la_weights: torch.Tensor, key: torch.Tensor, selection: torch.Tensor,
                     ref_key: torch.Tensor, ref_confidence: torch.Tensor) -> torch.Tensor:
    """c_la: la_weights (1, W*W, h*w) (window index i*W + j = displacement (i - r, j - r)), key and
    selection (1, Ck, h, w) of the query frame, ref_key (1, Ck, h, w) and ref_confidence (h, w) of the
    reference frame -> (h, w) float32 in [0, 1]."""
    _, _, h, w = key.shape
    win = math.isqrt(la_weights.shape[1])
    r = win // 2
    q, e = key.float()[0], selection.float()[0]
    qq = (e * q * q).sum(0)
    ref = F.pad(ref_key.float(), (r, r, r, r))[0]
    conf = F.pad(ref_confidence.float().view(1, 1, h, w), (r, r, r, r))[0, 0]
    weights = la_weights.float().view(win, win, h, w)
    out = torch.zeros(h, w, device=key.device)
    for i in range(win):
        for j in range(win):
            m = ref[:, i:i + h, j:j + w]
            out += weights[i, j] * _match((e * q * m).sum(0), qq, (e * m * m).sum(0)) * conf[i:i + h, j:j + w]
    return out.clamp(0, 1)
