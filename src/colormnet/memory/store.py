"""Storage of memory elements (one per 1/16-grid position of a memory frame)."""

from __future__ import annotations

import torch


class MemoryStore:
    """A growable set of memory elements with usage statistics.

    key (1, Ck, N); shrinkage (1, 1, N); selection (1, Ck, N) or None (long-term memory keeps none);
    value (G, Cv, N); use_count / life_count (1, 1, N) float32. ``life_count`` starts at 1e-7 so
    usage = use_count / life_count is defined for new elements. confidence (1, 1, N) float32 in [0, 1]:
    how sure the colour an element carries is (1 for exemplars; see :mod:`colormnet.memory.confidence`).
    ``log_weight`` (1, 1, N) float32: per-element log-weight for policies that weight elements (0 = weight 1;
    see policies.py).
    """

    def __init__(self) -> None:
        self.key: torch.Tensor | None = None
        self.shrinkage: torch.Tensor | None = None
        self.selection: torch.Tensor | None = None
        self.value: torch.Tensor | None = None
        self.use_count: torch.Tensor | None = None
        self.life_count: torch.Tensor | None = None
        self.confidence: torch.Tensor | None = None
        self.log_weight: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return 0 if self.key is None else self.key.shape[-1]

    def append(self, key: torch.Tensor, shrinkage: torch.Tensor, value: torch.Tensor,
               selection: torch.Tensor | None = None, confidence: torch.Tensor | None = None,
               log_weight: torch.Tensor | None = None) -> None:
        """Add elements: key (1, Ck, n), shrinkage (1, 1, n), value (G, Cv, n), selection (1, Ck, n),
        confidence (1, 1, n) (default 1)."""
        n = key.shape[-1]
        use = torch.zeros(1, 1, n, device=key.device, dtype=torch.float32)
        life = torch.full((1, 1, n), 1e-7, device=key.device, dtype=torch.float32)
        conf = (torch.ones(1, 1, n, device=key.device) if confidence is None
                else confidence.reshape(1, 1, n).to(key.device, torch.float32))
        lw = (torch.zeros(1, 1, n, device=key.device) if log_weight is None
              else log_weight.reshape(1, 1, n).to(key.device, torch.float32))
        if self.key is None:
            self.key, self.shrinkage, self.value, self.selection = key, shrinkage, value, selection
            self.use_count, self.life_count, self.confidence, self.log_weight = use, life, conf, lw
            return
        self.key = torch.cat([self.key, key], -1)
        self.shrinkage = torch.cat([self.shrinkage, shrinkage], -1)
        self.value = torch.cat([self.value, value], -1)
        if self.selection is not None and selection is not None:
            self.selection = torch.cat([self.selection, selection], -1)
        elif self.selection is not None or selection is not None:
            raise ValueError("either every or no element of a store has a selection term")
        self.use_count = torch.cat([self.use_count, use], -1)
        self.life_count = torch.cat([self.life_count, life], -1)
        self.confidence = torch.cat([self.confidence, conf], -1)
        self.log_weight = torch.cat([self.log_weight, lw], -1)

    def keep(self, index: slice | torch.Tensor) -> None:
        """Keep only the elements picked by ``index`` along N (a slice, bool mask or index tensor)."""
        for name in ("key", "shrinkage", "selection", "value", "use_count", "life_count", "confidence", "log_weight"):
            tensor = getattr(self, name)
            if tensor is not None:
                setattr(self, name, tensor[..., index])
        if self.size == 0:
            self.clear()

    def clear(self) -> None:
        self.__init__()

    def add_usage(self, usage: torch.Tensor) -> None:
        """Record one readout: usage (N,) = affinity mass each element received; lifetimes += 1."""
        self.use_count += usage.view_as(self.use_count)
        self.life_count += 1

    def usage(self) -> torch.Tensor:
        """Normalised usage (1, 1, N) = use_count / life_count."""
        return self.use_count / self.life_count
