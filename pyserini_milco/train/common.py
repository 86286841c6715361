"""What both trainers share: seeds, the learning-rate schedule, the JSONL log, atomic resumable
state, and the shipped delta (the trained tensors only, as safetensors with their metadata)."""
from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import atomic_output

STATE_FILE = "trainer-state.pt"
DELTA_FILE = "delta.safetensors"
LOG_FILE = "train-log.jsonl"


def set_seeds(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def start_run(out: Path, seed: int, threads: int, device: str, student: str):
    """What every training run does first: its output folder, seeds, torch threads, the device, and
    the student checkpoint loaded on the CPU: ``(device, model, tokenizer, en_tokens)``."""
    from ..encoding.names import load_checkpoint

    out.mkdir(parents=True, exist_ok=True)
    set_seeds(seed)
    if threads:
        torch.set_num_threads(threads)
    model, tokenizer, en_tokens, _ = load_checkpoint(student)
    return torch.device(device), model, tokenizer, en_tokens


def seeded_batches(items: list, batch_size: int, steps: int, seed: int) -> list[list]:
    """``steps`` batches of ``items``: passes over the items, each shuffled by a seeded RNG."""
    rng = random.Random(seed)
    batches, pool = [], []
    for _ in range(steps):
        if len(pool) < batch_size:
            refill = list(items)
            rng.shuffle(refill)
            pool.extend(refill)
        batches.append(pool[:batch_size])
        pool = pool[batch_size:]
    return batches


def warmup_cosine(step: int, peak: float, warmup: int, total: int, floor: float = 0.1) -> float:
    """Linear warm-up to ``peak``, then cosine decay to ``floor × peak`` at ``total`` steps."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def append_log(folder: Path, record: dict) -> None:
    """Print a record above the progress bar and append it to ``folder/train-log.jsonl``."""
    tqdm.write(json.dumps(record))
    with open(folder / LOG_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def jsonable(settings: object) -> dict:
    """A settings dataclass as JSON-ready values (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(settings).items()}


def save_state(path: Path, step: int, trainable: Mapping[str, torch.Tensor], optimizer: torch.optim.Optimizer,
               settings: object, **extra: object) -> None:
    """Everything a resumed run needs to continue bit for bit, written atomically."""
    state = {"step": step, "trainable": {n: p.detach().cpu().clone() for n, p in trainable.items()},
             "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
             "settings": jsonable(settings), **extra}
    with atomic_output(path, "wb") as handle:
        torch.save(state, handle)


def load_state(path: Path, trainable: Mapping[str, torch.Tensor], optimizer: torch.optim.Optimizer) -> dict:
    """Restore parameters, optimizer and RNG from :func:`save_state`'s file; returns the whole state."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    with torch.no_grad():
        for name, value in state["trainable"].items():
            trainable[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    tqdm.write(f"resumed from {path} at step {state['step']}")
    return state


def write_delta(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """The trained tensors (float32, contiguous) as one safetensors file, written atomically."""
    from safetensors.torch import save

    data = {n: t.detach().cpu().float().contiguous() for n, t in tensors.items()}
    with atomic_output(path, "wb") as handle:
        handle.write(save(data, metadata=dict(metadata)))
