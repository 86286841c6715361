"""What the trainers share: the settings every trainer has (:class:`TrainerSettings`), those of the
stage-2 trainers (:class:`Stage2Settings`) and of those that train the backbone
(:class:`BackboneSettings`); seeds, the learning-rate schedule, the JSONL log, atomic resumable
state, the shipped delta (the trained tensors only, as safetensors with their metadata), and the
step loop of the stage-2 trainers (:class:`StepLoop`)."""
from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import atomic_output
from .devset import DEFAULT_SETTINGS
from .settings_cli import COMMA_LIST, int_list, setting
from .teachers import DEFAULT_TEMPERATURE, E5_TEACHER, FILE_TEACHER

STATE_FILE = "trainer-state.pt"
DELTA_FILE = "delta.safetensors"
LOG_FILE = "train-log.jsonl"


@dataclasses.dataclass(kw_only=True)
class TrainerSettings:
    """What every trainer is given; a trainer's settings set the defaults that differ between trainers."""

    student: str = setting(help="MILCO checkpoint to start from: a folder or a hub id")
    out: Path = setting(help="output folder: log, trainer state, delta, merged model")
    steps: int = setting(help="optimizer steps")
    lr: float = setting(help="peak learning rate (warm-up then cosine)")
    warmup: int = setting(help="warm-up steps")
    validate_every: int = setting(help="steps between validations")
    save_every: int = setting(help="steps between resumable checkpoints")
    seed: int = setting(0, help="seed of what is random: initialisation, samples, data order")
    threads: int = setting(0, help="torch CPU threads (0: torch's default)")


@dataclasses.dataclass(kw_only=True)
class Stage2Settings(TrainerSettings):
    """What the stage-2 trainers (``distill``, ``echo``) are given: groups, a teacher, a development set."""

    student: str = setting(help="MILCO checkpoint to start from: a folder, a hub id, 'milco-mini' or "
                                "'milco-mini-stage1' (milco-mini before its heads were trained: what the "
                                "shipped heads start from)")
    train: Path = setting(help="training groups, JSONL: {query, positive, negatives[, scores]} "
                               "(see pyserini_milco/train/groups.py)")
    dev: Path | None = setting(None, help="development set folder (from `groups`: OUT/dev); chooses the exported "
                                          "checkpoint")
    teacher: str = setting(FILE_TEACHER, help=f"'{FILE_TEACHER}' (the groups' own scores), '{E5_TEACHER}', "
                                              "or a cross-encoder folder / hub id")
    temperature: float = setting(DEFAULT_TEMPERATURE, help=f"{E5_TEACHER} teacher: cosine / temperature")
    batch_size: int = setting(help="groups per step")
    negatives: int = setting(7, help="negatives per group (the file may hold more)")
    query_max_length: int = setting(64, help="tokens per query")
    passage_max_length: int = setting(256, help="tokens per passage")
    dev_settings: list[str] = setting(factory=lambda: list(DEFAULT_SETTINGS), spelling=COMMA_LIST,
                                      help="development settings QUERY-POOL languages, e.g. de-en,zh-zh")
    validate_every: int = setting(help="steps between development-set validations")


@dataclasses.dataclass(kw_only=True)
class BackboneSettings:
    """What the trainers that train the backbone (``align``, ``distill``) are given: its low-rank
    adapters and the device that runs it (``echo`` keeps it frozen and cached, on the CPU)."""

    adapter_layers: list[int] = setting(factory=lambda: list(range(6, 12)), type=int_list,
                                        help="backbone layers with adapters, e.g. 6-11 or 0,5,11")
    rank: int = setting(help="adapter rank")
    alpha: float = setting(help="adapter scaling numerator (alpha / rank)")
    device: str = setting("cpu", help="cpu or cuda (bf16 autocast on cuda)")


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


class StepLoop:
    """The stage-2 trainers' loop: scheduled learning rates (each parameter group's ``peak``), a
    progress bar, a log record every ``log_every`` steps, validation every ``validate_every`` steps
    (and at the end), resumable state every ``save_every`` steps, then :meth:`finish`.

    A trainer sets ``s`` (settings with ``out``, ``steps``, ``warmup``, ``validate_every``,
    ``save_every``), ``optimizer``, ``state`` (the tensors a resumed run restores), ``devset``,
    ``step`` and ``best``, and implements :meth:`step_loss`, :meth:`validate` and :meth:`finish`.
    """

    desc = "train"
    log_every = 10

    def step_loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def before_update(self) -> None:
        """Between ``backward`` and the optimizer's step (e.g. gradient clipping)."""

    def after_update(self) -> None:
        """After the optimizer's step (e.g. projecting parameters back into range)."""

    def postfix(self, parts: dict[str, float]) -> dict[str, str]:
        return {"kl": f"{parts['kl']:.3f}", "agree": f"{parts['agree']:.2f}"}

    def log(self, record: dict) -> None:
        append_log(self.s.out, record)

    def train(self, resume: bool = False) -> dict:
        if resume and (self.s.out / STATE_FILE).is_file():
            saved = load_state(self.s.out / STATE_FILE, self.state, self.optimizer)
            self.step, self.best = saved["step"], saved["best"]
        elif self.devset is not None:
            self.log({"step": 0, **self.validate()})
        bar = tqdm(total=self.s.steps, initial=self.step, desc=self.desc, unit="step")
        started = time.time()
        while self.step < self.s.steps:
            for group in self.optimizer.param_groups:
                group["lr"] = warmup_cosine(self.step, group["peak"], self.s.warmup, self.s.steps)
            loss, parts = self.step_loss(self.step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.before_update()
            self.optimizer.step()
            self.after_update()
            self.step += 1
            bar.update(1)
            bar.set_postfix(self.postfix(parts))
            if self.step % self.log_every == 0:
                self.log({"step": self.step, "loss": round(loss.item(), 4), **{k: round(v, 4) for k, v in parts.items()},
                          "elapsed_s": round(time.time() - started, 1)})
            if self.devset is not None and (self.step % self.s.validate_every == 0 or self.step == self.s.steps):
                self.log({"step": self.step, **self.validate()})
            if self.step % self.s.save_every == 0 or self.step == self.s.steps:
                save_state(self.s.out / STATE_FILE, self.step, self.state, self.optimizer, self.s, best=self.best)
        bar.close()
        return self.finish()

    def validate(self) -> dict[str, float]:
        raise NotImplementedError

    def finish(self) -> dict:
        raise NotImplementedError
