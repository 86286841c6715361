"""Helpers shared by the benchmarks: thread settings, timing, machine description, result files."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from pyserini_milco.atomic import atomic_output


def set_threads(threads: int) -> None:
    """Give torch ``threads`` CPU threads (1 is fastest on a shared 2-core machine: less contention)."""
    import torch

    torch.set_num_threads(threads)


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that a timer measures the work and not its launch."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(function: Callable[[], Any], device: str = "cpu") -> tuple[float, Any]:
    """(wall-clock seconds, result) of one call, the device synchronized before and after."""
    synchronize(device)
    start = time.perf_counter()
    result = function()
    synchronize(device)
    return time.perf_counter() - start, result


def median(values: list[float]) -> float:
    """Median of the repeats: robust to one run slowed by another process on a shared machine."""
    return statistics.median(values)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what the platform module knows."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def machine(device: str) -> str:
    """One line naming the hardware and software a number was measured on, and the load average
    (other processes sharing the cores slow every measure down)."""
    import torch

    cores = os.cpu_count()
    where = (f"{cpu_name()}, {cores} cores (load average {os.getloadavg()[0]:.2f}), torch {torch.__version__}, "
             f"{torch.get_num_threads()} torch thread(s)")
    if device.startswith("cuda"):
        where = f"{torch.cuda.get_device_name(torch.device(device))}; host {where}"
    return where


def write_json(path: str | os.PathLike | None, results: dict[str, Any]) -> None:
    """Save results atomically when a path is given."""
    if path is None:
        return
    with atomic_output(path) as handle:
        json.dump(results, handle, indent=1)
        handle.write("\n")


def default_encoder() -> str:
    """milco-mini-base's folder (built offline on first use; untrained)."""
    from pyserini_milco.mini.build import base_model_folder

    return str(base_model_folder())
