"""Memory maths: similarity, top-k softmax, readout and prototype consolidation (XMem).

Everything runs in float32 with autocast disabled, whatever the network's precision.
"""

from __future__ import annotations

import math

import torch


def _fp32(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else (t if t.dtype == torch.float64 else t.float())


def similarity(mem_key: torch.Tensor, mem_shrinkage: torch.Tensor | None, query_key: torch.Tensor,
               query_selection: torch.Tensor | None) -> torch.Tensor:
    """Negative anisotropic squared L2 distance, scaled.

    mem_key (B, Ck, N), mem_shrinkage (B, 1, N), query_key / query_selection (B, Ck, M)
    -> (B, N, M) = -(sum_c e_c (k_mem - k_q)^2) * shrinkage / sqrt(Ck), computed as three matrix terms.
    """
    mk, qk, qe, ms = _fp32(mem_key), _fp32(query_key), _fp32(query_selection), _fp32(mem_shrinkage)
    ck = mk.shape[1]
    mk_t = mk.transpose(1, 2)
    if qe is not None:
        a_sq = mk_t.pow(2) @ qe
        two_ab = 2 * (mk_t @ (qk * qe))
        b_sq = (qe * qk.pow(2)).sum(1, keepdim=True)
    else:
        a_sq = mk_t.pow(2).sum(2, keepdim=True)
        two_ab = 2 * (mk_t @ qk)
        b_sq = qk.pow(2).sum(1, keepdim=True)
    sim = -a_sq + two_ab - b_sq
    if ms is not None:
        sim = sim * ms.transpose(1, 2)
    return sim / math.sqrt(ck)


def topk_softmax(sim: torch.Tensor, k: int) -> torch.Tensor:
    """Softmax over the k largest entries of each column of sim (B, N, M); others get 0.

    (The authors exponentiate without subtracting the maximum; subtracting it changes only rounding
    and cannot underflow to 0/0.)
    """
    k = min(k, sim.shape[1])
    values, indices = torch.topk(sim, k=k, dim=1)
    weights = torch.softmax(values, dim=1)
    return torch.zeros_like(sim).scatter_(1, indices, weights)


def readout(affinity: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """affinity (1, N, M), value (G, Cv, N) -> (G, Cv, M)."""
    return value.to(affinity.dtype) @ affinity


def make_prototypes(key: torch.Tensor, shrinkage: torch.Tensor, selection: torch.Tensor,
                    value: torch.Tensor, usage: torch.Tensor, num: int
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Consolidate candidates into ``num`` prototypes (XMem's potentiation).

    The ``num`` most-used candidates become prototype keys; their values and shrinkage are read
    from all candidates with a plain softmax over the candidate similarities.
    key/selection (1, Ck, N), shrinkage (1, 1, N), value (G, Cv, N), usage (1, 1, N)
    -> key (1, Ck, P), shrinkage (1, 1, P), value (G, Cv, P).
    """
    num = min(num, key.shape[-1])
    top = torch.topk(usage, k=num, dim=-1, sorted=True).indices.flatten()
    proto_key = key[:, :, top]
    sim = similarity(key, shrinkage, proto_key, selection[:, :, top])
    affinity = torch.softmax(sim, dim=1)
    proto_value = readout(affinity, value).to(value.dtype)
    proto_shrinkage = readout(affinity, shrinkage).to(shrinkage.dtype)
    return proto_key, proto_shrinkage, proto_value
