"""The parity fixtures' deterministic weight recipe (see shared/fixtures/README.md section 2).

Every state_dict entry gets its own numpy PCG64 generator seeded with the CRC-32 of its key, and a
value chosen by the first matching rule. Lets tests and benchmarks run the full-size network
with reproducible, well-conditioned weights and no checkpoint.
"""

from __future__ import annotations

import hashlib
import math
import zlib

import numpy as np
import torch

_GAINS = (  # first matching suffix wins
    ("key_proj.key_proj.weight", 3.0),
    ("key_proj.d_proj.weight", 3.0),
    (".attn.qkv.weight", 2.0),
    ("decoder.pred.weight", 0.4),
)


def recipe_tensor(key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The recipe value of one entry (float32, or int64 0 for ``num_batches_tracked``)."""
    rng = np.random.default_rng(zlib.crc32(key.encode("utf-8")))
    if key.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    if key.endswith("running_mean"):
        values = rng.uniform(-0.1, 0.1, shape)
    elif key.endswith("running_var"):
        values = rng.uniform(0.5, 1.5, shape)
    elif key.endswith(("cls_token", "pos_embed", "mask_token")):
        values = rng.uniform(-0.1, 0.1, shape)
    elif key.endswith(".gamma"):
        values = rng.uniform(0.5, 1.0, shape)
    elif key.endswith(".temperature"):
        values = rng.uniform(5.0, 15.0, shape)
    elif key.endswith(".weight") and len(shape) == 1:
        values = 1.0 + rng.uniform(-0.1, 0.1, shape)
    elif key.endswith(".bias"):
        values = rng.uniform(-0.05, 0.05, shape)
    elif key.endswith(".weight") and len(shape) >= 2:
        gain = next((g for suffix, g in _GAINS if key.endswith(suffix)), 1.0)
        fan_in = math.prod(shape[1:])
        values = rng.uniform(-1.0, 1.0, shape) * (math.sqrt(3.0 / fan_in) * gain)
    else:
        raise ValueError(f"no recipe rule for {key} {shape}")
    return values.astype(np.float32)


def recipe_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Recipe values for every entry of ``model.state_dict()``, same order and shapes."""
    return {k: torch.from_numpy(recipe_tensor(k, tuple(v.shape))) for k, v in model.state_dict().items()}


def state_dict_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over key UTF-8 bytes + little-endian C-order tensor bytes, in order."""
    digest = hashlib.sha256()
    for key, tensor in state_dict.items():
        digest.update(key.encode("utf-8"))
        array = tensor.detach().cpu().numpy()
        digest.update(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    return digest.hexdigest()
