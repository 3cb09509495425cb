"""The ColorMNet network: stateless, with one method per stage.

Per-video state (memory, hidden state, frame counter) lives in
:class:`colormnet.inference.session.ColorizationSession`; the memory readout maths is in
:mod:`colormnet.memory.readout`. Submodule names equal the released checkpoint's key prefixes.
"""

from __future__ import annotations

import torch
from torch import nn

from colormnet.config import ModelConfig
from colormnet.model.decoder import Decoder
from colormnet.model.key_encoder import KeyFeatures, KeyProjection
from colormnet.model.key_variants import make_key_encoder
from colormnet.model.local_attention import LocalAttention
from colormnet.model.value_encoder import ValueEncoder


class ColorMNet(nn.Module):
    """Image inputs are L' repeated to 3 channels, zero-padded to a multiple of ``cfg.pad_multiple``.

    Shapes below: H, W padded size; h, w = H/16, W/16; G = 2 chroma groups (a', b').
    """

    def __init__(self, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or ModelConfig()
        self.key_encoder = make_key_encoder(cfg)  # the PVGFE, or an ablation variant
        self.value_encoder = ValueEncoder(cfg)
        self.key_proj = KeyProjection(cfg.key_channels[0], cfg.key_dim)
        self.short_term_attn = (LocalAttention(cfg.key_dim, 2 * cfg.value_dim, cfg.local_window)
                                if cfg.local_window else None)  # None: local attention off (ablation)
        self.decoder = Decoder(cfg)

    def encode_key(self, image: torch.Tensor, need_shrinkage: bool = True,
                   need_selection: bool = True) -> KeyFeatures:
        """image (B, 3, H, W) -> :class:`KeyFeatures` (key, shrinkage, selection, g16, g8, g4)."""
        g16, g8, g4 = self.key_encoder(image)
        key, shrinkage, selection = self.key_proj(g16, need_shrinkage, need_selection)
        return KeyFeatures(key, shrinkage, selection, g16, g8, g4)

    def encode_value(self, image: torch.Tensor, g16: torch.Tensor, hidden: torch.Tensor, ab: torch.Tensor,
                     deep_update: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Memory value of a frame with known/predicted chroma.

        image (B, 3, H, W), g16 (B, C16, h, w), hidden (B, G, Ch, h, w), ab (B, G, H, W) in (-1, 1)
        -> value (B, G, Cv, h, w), hidden (GRU-updated when ``deep_update``).
        """
        return self.value_encoder(image, g16, hidden, ab, deep_update)

    def local_attention(self, key: torch.Tensor, ref_key: torch.Tensor,
                        ref_value: torch.Tensor) -> torch.Tensor:
        """LA term: key, ref_key (B, Ck, h, w); ref_value (B, G, Cv, h, w) -> (B, G, Cv, h, w)
        (zeros when the network has no local attention)."""
        if self.short_term_attn is None:
            return torch.zeros_like(ref_value)
        b, g, c, h, w = ref_value.shape
        return self.short_term_attn(key, ref_key, ref_value.reshape(b, g * c, h, w)).view(b, g, c, h, w)

    def decode(self, feats: KeyFeatures, readout: torch.Tensor, hidden: torch.Tensor,
               update_hidden: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """readout (B, G, Cv, h, w) (memory readout + LA term), hidden (B, G, Ch, h, w)
        -> ab (B, G, H, W) in (-1, 1), hidden (decoder GRU-updated when ``update_hidden``)."""
        return self.decoder(feats.g16, feats.g8, feats.g4, readout, hidden, update_hidden)

    def zero_hidden(self, key: torch.Tensor) -> torch.Tensor:
        """A zero hidden state (B, G, Ch, h, w) for a key (B, Ck, h, w)."""
        b, _, h, w = key.shape
        return key.new_zeros(b, 2, self.cfg.hidden_dim, h, w)
