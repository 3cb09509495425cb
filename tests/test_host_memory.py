"""return_freed_host_memory: freed activation-sized blocks leave the resident set (glibc Linux)."""

from __future__ import annotations

import subprocess
import sys

import pytest

_PROBE = r"""
import sys
import numpy as np

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

applied = False
if sys.argv[1] == "on":
    from colormnet.device import return_freed_host_memory
    applied = return_freed_host_memory()
big = np.ones(16 << 20, np.uint8)   # a 16 MiB block freed: glibc would raise its mmap threshold
del big
before = rss_mib()
blocks, kept = [], []
for _ in range(40):   # 160 MiB of activation-sized blocks, each followed by a small block kept alive
    blocks.append(np.ones(4 << 20, np.uint8))
    kept.append(np.ones(256 << 10, np.uint8))
del blocks
print(applied, rss_mib() - before)
"""


def _probe(mode: str) -> tuple[bool, float]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True,
                         timeout=120).stdout.split()
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_freed_blocks_leave_the_resident_set():
    applied, grown_on = _probe("on")
    if not applied:
        pytest.skip("not glibc, or MALLOC_MMAP_THRESHOLD_ is set in the environment")
    _, grown_off = _probe("off")
    assert grown_off > 100, f"the default allocator kept only {grown_off:.0f} MiB: the probe tests nothing"
    assert grown_on < 20, f"{grown_on:.0f} MiB stayed resident after the blocks were freed"
