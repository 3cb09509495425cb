"""The memory of one video: permanent exemplars, working memory and long-term memory, with the
XMem policy for consolidation and eviction.

Layout of a readout: [long-term | permanent | working]. Permanent elements (exemplars) are never
consolidated or evicted. The authors' code keeps its one exemplar as the first frame of working
memory; here it is the permanent store, and the working-memory limits count it as one frame, so
a single exemplar gives exactly the authors' memory sizes and decisions.
"""

from __future__ import annotations

import logging

import torch

from colormnet.config import MemoryConfig
from colormnet.device import autocast
from colormnet.memory import readout as mm
from colormnet.memory.confidence import topk_confidence
from colormnet.memory.policies import make_policy
from colormnet.memory.store import MemoryStore

log = logging.getLogger(__name__)


class ColorMemory:
    """Bounded key-value memory for one video (group axis G = 2 chroma channels)."""

    def __init__(self, cfg: MemoryConfig, chunk_elements: int = 1 << 26) -> None:
        """``chunk_elements`` bounds the size of the temporary similarity matrix (elements)."""
        self.cfg = cfg
        self.chunk_elements = chunk_elements
        self.permanent = MemoryStore()
        self.working = MemoryStore()
        self.long_term = MemoryStore()
        self.frame_elements = 0  # HW of the 1/16 grid, fixed by the first frame added
        self.policy = make_policy(cfg)  # what bounds the non-permanent memory (policies.py)
        self.read_confidence: torch.Tensor | None = None  # (1, h, w) of the last read()

    @property
    def sizes(self) -> dict[str, int]:
        """Element counts: permanent, working (non-permanent frames), long_term."""
        return {"permanent": self.permanent.size, "working": self.working.size,
                "long_term": self.long_term.size}

    def add(self, key: torch.Tensor, shrinkage: torch.Tensor, value: torch.Tensor,
            selection: torch.Tensor | None, permanent: bool = False,
            confidence: torch.Tensor | None = None) -> None:
        """Store one frame. key/selection (1, Ck, h, w), shrinkage (1, 1, h, w), value (1, G, Cv, h, w),
        confidence (h, w) of the frame's colour (default 1, as for exemplars)."""
        hw = key.shape[-2] * key.shape[-1]
        if self.frame_elements and hw != self.frame_elements:
            raise ValueError(f"memory frame has {hw} elements, earlier frames had {self.frame_elements}")
        self.frame_elements = hw
        flat_sel = None if selection is None else selection.flatten(2)
        store = self.permanent if permanent else self.working
        store.append(key.flatten(2), shrinkage.flatten(2), value[0].flatten(2), flat_sel,
                     None if confidence is None else confidence.reshape(1, 1, hw))
        if not permanent:
            self.policy.after_write(self)

    def clear_propagated(self) -> None:
        """Forget working and long-term memory (a new shot); permanent exemplars stay."""
        self.working.clear()
        self.long_term.clear()

    def read(self, query_key: torch.Tensor, selection: torch.Tensor) -> torch.Tensor:
        """Top-k readout for a query frame: key/selection (1, Ck, h, w) -> (1, G, Cv, h, w).

        Records usage in working and long-term memory, and the readout's confidence (1, h, w) in
        :attr:`read_confidence` (see :func:`colormnet.memory.confidence.topk_confidence`).
        """
        h, w = query_key.shape[-2:]
        stores = [s for s in (self.long_term, self.permanent, self.working) if s.size]
        if not stores:
            raise RuntimeError("memory is empty: add an exemplar before reading")
        with autocast(query_key.device, None):
            mem_key = torch.cat([s.key for s in stores], -1)
            mem_shrinkage = torch.cat([s.shrinkage for s in stores], -1)
            value = torch.cat([s.value for s in stores], -1)
            mem_conf = torch.cat([s.confidence for s in stores], -1).flatten()
            query, sel = query_key.flatten(2), selection.flatten(2)
            # the (N x M) similarity is built a slice of query positions at a time when it would be large
            step = max(1, self.chunk_elements // mem_key.shape[-1])
            usage = torch.zeros(mem_key.shape[-1], device=mem_key.device)
            bias = self.policy.similarity_bias(stores)  # (N,) or None
            outs, confs = [], []
            for start in range(0, query.shape[-1], step):
                sim = mm.similarity(mem_key, mem_shrinkage, query[..., start:start + step],
                                    sel[..., start:start + step])
                if bias is not None:
                    sim = sim + bias.view(1, -1, 1)
                weights, indices = mm.topk_weights(sim, self.cfg.top_k)
                usage.index_add_(0, indices.flatten(), weights.flatten())
                outs.append(mm.topk_readout(weights, indices, value))
                confs.append(topk_confidence(mem_key, query[..., start:start + step], sel[..., start:start + step],
                                             weights, indices, mem_conf))
            out = torch.cat(outs, -1).to(value.dtype)
            self.read_confidence = torch.cat(confs, -1).view(1, h, w)
            start = 0
            for store in stores:
                if store is not self.permanent:
                    store.add_usage(usage[start:start + store.size])
                start += store.size
        return out.view(1, out.shape[0], out.shape[1], h, w)
