"""The process's peak memory: what a port's task reports per step and the benchmarks measure."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    /proc's VmHWM belongs to the process image; `ru_maxrss` (used where there is no /proc) would
    also count the parent's memory at fork time, which Linux carries over into the child.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
