"""Local attention (LA): each query position attends to a 15x15 window of a reference frame.

Mathematically the authors' ``LocalGatedPropagation`` (1 head, no q/k/v projections, learned
relative-position bias), but the window is aggregated directly instead of through a dense
(HW x HW) matrix, so memory is O(C * HW) instead of O(HW^2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class _DWConv(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 5, padding=2, groups=channels, bias=False)


class LocalAttention(nn.Module):
    def __init__(self, key_dim: int, value_channels: int, window: int = 15) -> None:
        super().__init__()
        if window % 2 != 1:
            raise ValueError(f"window must be odd, got {window}")
        self.window = window
        self.scale = 1.0 / math.sqrt(key_dim)
        self.relative_emb_k = nn.Conv2d(key_dim, window * window, 1)
        self.dw_conv = _DWConv(value_channels)
        self.projection = nn.Linear(value_channels, value_channels)

    def weights(self, query: torch.Tensor, ref_key: torch.Tensor) -> torch.Tensor:
        """Attention weights (B, window^2, h*w); window index i*window + j = displacement
        (i - r, j - r) of the reference position from the query position, r = window // 2.

        query, ref_key: (B, Ck, h, w). Positions outside the frame get weight 0.
        """
        b, _, h, w = query.shape
        r = self.window // 2
        scaled = query * self.scale
        padded = F.pad(ref_key, (r, r, r, r))
        inside = F.pad(torch.ones(1, 1, h, w, dtype=torch.bool, device=query.device), (r, r, r, r))
        scores, valid = [], []
        for i in range(self.window):
            for j in range(self.window):
                scores.append((scaled * padded[:, :, i:i + h, j:j + w]).sum(1))
                valid.append(inside[:, 0, i:i + h, j:j + w])
        corr = torch.stack(scores, dim=1).view(b, self.window ** 2, h * w)
        corr = corr + self.relative_emb_k(query).view(b, self.window ** 2, h * w)
        outside = ~torch.stack(valid, dim=1).view(1, self.window ** 2, h * w)
        penalty = 1e8 if corr.dtype == torch.float32 else 1e4
        corr = corr - outside.to(corr.dtype) * penalty
        return corr.softmax(dim=1)

    def forward(self, query: torch.Tensor, ref_key: torch.Tensor, ref_value: torch.Tensor) -> torch.Tensor:
        """query, ref_key: (B, Ck, h, w); ref_value: (B, Cv, h, w) -> (B, Cv, h, w)."""
        b, c, h, w = ref_value.shape
        attn = self.weights(query, ref_key).view(b, self.window, self.window, h, w)
        r = self.window // 2
        padded = F.pad(ref_value, (r, r, r, r))
        out = torch.zeros_like(ref_value)
        for i in range(self.window):
            for j in range(self.window):
                out += attn[:, i:i + 1, j] * padded[:, :, i:i + h, j:j + w]
        out = self.dw_conv.conv(out)
        return self.projection(out.flatten(2).transpose(1, 2)).transpose(1, 2).view(b, c, h, w)
