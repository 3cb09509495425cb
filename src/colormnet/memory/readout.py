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


def topk_weights(sim: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax over the k largest entries of each column of sim (1, N, M).

    Returns weights and memory indices, both (k, M). (The authors exponentiate without subtracting the
    maximum; subtracting it changes only rounding and cannot underflow to 0/0.)
    """
    values, indices = torch.topk(sim[0], k=min(k, sim.shape[1]), dim=0)
    return torch.softmax(values, dim=0), indices


def topk_softmax(sim: torch.Tensor, k: int) -> torch.Tensor:
    """Dense form of :func:`topk_weights`: (B, N, M) with zeros outside each column's top k
    (differentiable; used by training, where memory is small)."""
    values, indices = torch.topk(sim, k=min(k, sim.shape[1]), dim=1)
    return torch.zeros_like(sim).scatter(1, indices, torch.softmax(values, dim=1))


def topk_readout(weights: torch.Tensor, indices: torch.Tensor, value: torch.Tensor,
                 chunk_elements: int = 1 << 24) -> torch.Tensor:
    """Read values with sparse top-k weights: weights/indices (k, M), value (G, Cv, N) -> (G, Cv, M) float32.

    Equal to ``value @ dense_affinity`` but gathers only the k used elements per query position
    (k x fewer operations than the dense product), ``chunk_elements`` at a time.
    """
    g, cv, _ = value.shape
    flat = value.reshape(g * cv, -1).t()  # (N, G*Cv)
    k, m = indices.shape
    step = max(1, chunk_elements // (k * g * cv))
    out = torch.empty(g * cv, m, dtype=torch.float32, device=value.device)
    for start in range(0, m, step):
        idx, w = indices[:, start:start + step], weights[:, start:start + step]
        gathered = flat[idx].float()  # (k, m', G*Cv)
        out[:, start:start + step] = torch.einsum("km,kmc->cm", w, gathered)
    return out.view(g, cv, m)


def readout(affinity: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Dense readout: affinity (1, N, M), value (G, Cv, N) -> (G, Cv, M)."""
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
