"""Memory policies: what happens to the non-permanent memory after each write, and any bias the
policy adds to the readout similarity.

A policy object is chosen by ``MemoryConfig.policy`` and owned by one :class:`ColorMemory`; the
storage (store.py) and the maths (readout.py) are shared by all policies. Permanent memory
(exemplars) is never touched by any policy.

- ``usage`` (default; the paper's memory, XMem's): working memory is consolidated into long-term
  prototypes (the most-used candidates) when full; long-term memory evicts its least-used elements.
- ``random`` (a MAMBA-like selection, supplement section 5): the same bounds, but the prototypes and
  the evicted elements are drawn uniformly at random (seeded by ``policy_seed``): every feature on par.
- ``decay`` (MeMOTR-like exponentially decaying weights): every non-permanent element carries a weight
  that is multiplied by ``decay`` at each memory write; the readout adds log(weight) to the
  similarity before the top-k softmax; consolidation picks and eviction keeps by weight.
- ``stack`` (ablation "stacking all previous frames"): every memory frame is kept in working memory,
  no consolidation, up to ``max_memory_frames`` (0 = as many as half the available memory holds);
  beyond the cap the oldest frame is dropped.
- ``recurrent`` (ablation "recurrent propagation"): only the exemplar(s) and the latest memory frame.
"""

from __future__ import annotations

import logging
import math
import os

import torch

from colormnet.config import MemoryConfig
from colormnet.device import autocast
from colormnet.memory import readout as mm
from colormnet.memory.store import MemoryStore

log = logging.getLogger(__name__)


class MemoryPolicy:
    """Base policy: bounds the non-permanent memory after every non-permanent write."""

    name = ""

    def __init__(self, cfg: MemoryConfig) -> None:
        self.cfg = cfg

    def after_write(self, memory) -> None:
        """Called by :meth:`ColorMemory.add` after a non-permanent frame was appended to working memory."""
        raise NotImplementedError

    def similarity_bias(self, stores: list[MemoryStore]) -> torch.Tensor | None:
        """(N,) additive bias of the readout similarity for the concatenated ``stores``, or None."""
        return None


class UsagePolicy(MemoryPolicy):
    """XMem's memory (the paper's): consolidation by usage, eviction of the least used."""

    name = "usage"

    def scores(self, store: MemoryStore) -> torch.Tensor:
        """(1, 1, N) ranking of elements: higher = picked as prototype / kept."""
        return store.usage()

    def after_write(self, memory) -> None:
        cfg, hw = self.cfg, memory.frame_elements
        capacity = (cfg.max_mid_term_frames - 1) * hw  # non-permanent elements
        if not cfg.enable_long_term:
            if memory.working.size > capacity:  # first in, first out
                memory.working.keep(slice(memory.working.size - capacity, None))
            return
        if memory.working.size < capacity:
            return
        keep = (cfg.min_mid_term_frames - 1) * hw
        room = cfg.max_long_term_elements - cfg.num_prototypes
        # the authors test ">= room" and then crash in topk(k=0) when it is exactly room
        if memory.long_term.size > room:
            self.evict(memory.long_term, room)
        end = memory.working.size - keep
        w = memory.working
        score = self.scores(w)[..., :end]
        with autocast(w.key.device, None):
            # the candidates' confidence rides along as one more value channel, so each prototype gets
            # the affinity-weighted confidence of the candidates it summarises
            conf = w.confidence[..., :end].to(w.value.dtype).expand(w.value.shape[0], 1, end)
            key, shrinkage, value = mm.make_prototypes(
                w.key[..., :end], w.shrinkage[..., :end], w.selection[..., :end],
                torch.cat([w.value[..., :end], conf], 1), score, cfg.num_prototypes)
        prototype_log_weight = self.prototype_log_weight(w, score, key.shape[-1])
        w.keep(slice(end, None))
        memory.long_term.append(key, shrinkage, value[:, :-1], confidence=value[:1, -1:].float().clamp(0, 1),
                                log_weight=prototype_log_weight)
        log.debug("consolidated %d elements into %d prototypes; long-term now %d",
                  end, key.shape[-1], memory.long_term.size)

    def prototype_log_weight(self, working: MemoryStore, score: torch.Tensor, num: int) -> torch.Tensor | None:
        """log-weights (1, 1, P) of the new prototypes (None = 0)."""
        return None

    def evict(self, store: MemoryStore, target: int) -> None:
        """Drop the lowest-scored elements: keep those scored strictly above the (size - target)-th
        smallest (ties may remove a few more, as in the authors' code)."""
        score = self.scores(store).flatten()
        threshold = torch.topk(score, k=store.size - target, largest=False, sorted=True).values[-1]
        store.keep(score > threshold)


class RandomPolicy(UsagePolicy):
    """Prototypes and evictions drawn uniformly at random (reproducible with ``policy_seed``)."""

    name = "random"

    def __init__(self, cfg: MemoryConfig) -> None:
        super().__init__(cfg)
        self.generator = torch.Generator().manual_seed(cfg.policy_seed)

    def scores(self, store: MemoryStore) -> torch.Tensor:
        # fresh uniform scores: top-k of them is a uniformly random subset, and ties have probability 0
        return torch.rand(store.size, generator=self.generator).view(1, 1, -1).to(store.key.device)


class DecayPolicy(UsagePolicy):
    """Exponentially decaying element weights (log-weights live in the stores)."""

    name = "decay"

    def __init__(self, cfg: MemoryConfig) -> None:
        super().__init__(cfg)
        self.log_decay = math.log(cfg.decay)

    def scores(self, store: MemoryStore) -> torch.Tensor:
        return store.log_weight

    def after_write(self, memory) -> None:
        # every older non-permanent element decays once per memory write; the new frame has weight 1
        new = memory.frame_elements
        memory.working.log_weight[..., :memory.working.size - new] += self.log_decay
        if memory.long_term.size:
            memory.long_term.log_weight += self.log_decay
        super().after_write(memory)

    def prototype_log_weight(self, working: MemoryStore, score: torch.Tensor, num: int) -> torch.Tensor:
        # a prototype keeps the weight of the candidate that became its key (same top-k as make_prototypes)
        return torch.topk(score, k=num, dim=-1, sorted=True).values

    def similarity_bias(self, stores: list[MemoryStore]) -> torch.Tensor:
        return torch.cat([s.log_weight.flatten() for s in stores])


class StackPolicy(MemoryPolicy):
    """Every memory frame kept (no consolidation), capped by ``max_memory_frames`` or memory."""

    name = "stack"

    def __init__(self, cfg: MemoryConfig) -> None:
        super().__init__(cfg)
        self.cap = cfg.max_memory_frames
        self._warned = False

    def after_write(self, memory) -> None:
        hw = memory.frame_elements
        if self.cap == 0:
            self.cap = frames_that_fit(memory)
            log.warning("memory policy 'stack' keeps every memory frame (memory grows with the video); "
                        "capped at %d frames by the available memory; set --max-memory-frames to choose",
                        self.cap)
        if memory.working.size > self.cap * hw:
            if not self._warned:
                log.warning("memory policy 'stack': %d memory frames reached; dropping the oldest from now on",
                            self.cap)
                self._warned = True
            memory.working.keep(slice(memory.working.size - self.cap * hw, None))


class RecurrentPolicy(MemoryPolicy):
    """Only the exemplars (permanent) and the latest memory frame."""

    name = "recurrent"

    def after_write(self, memory) -> None:
        memory.working.keep(slice(memory.working.size - memory.frame_elements, None))
        memory.long_term.clear()


def available_bytes(device: torch.device) -> int:
    """Free memory on ``device`` (CUDA: free device memory; otherwise available system RAM)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def frames_that_fit(memory, fraction: float = 0.5) -> int:
    """Memory frames that fit in ``fraction`` of the free memory, counting each frame's storage and its
    share of one readout's similarity matrix (frame elements x frame elements, float32)."""
    w = memory.working
    per_element = 4 * (w.key.shape[1] * 2 + 1 + w.value.shape[0] * w.value.shape[1] + 3)
    hw = memory.frame_elements
    per_frame = hw * per_element + 4 * hw * hw
    return max(2, int(available_bytes(w.key.device) * fraction // per_frame))


_POLICIES: dict[str, type[MemoryPolicy]] = {
    p.name: p for p in (UsagePolicy, RandomPolicy, DecayPolicy, StackPolicy, RecurrentPolicy)}


def make_policy(cfg: MemoryConfig) -> MemoryPolicy:
    """The policy object named by ``cfg.policy`` (one of :data:`colormnet.config.MEMORY_POLICIES`)."""
    return _POLICIES[cfg.policy](cfg)
