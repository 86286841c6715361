"""Stage 1, Sparse Alignment Pretraining, as the paper and the authors' code define it.

Teacher: an English SPLADE masked LM on the English side, max-pooled ReLU logits (no log1p).
Student: MILCO's pivot logits, max-pooled the same way, for the foreign sentence AND for the
English sentence fed through the multilingual backbone. Loss: MSE over the coordinates where
student or teacher is non-zero, summed over the two directions.

What is trained: low-rank adapters on the chosen backbone layers and the connector (the English
head stays the teacher's, frozen). Progress bar, periodic validation (loss, foreign→English top-1
matching, terms per text), atomic checkpoints every ``save_every`` steps, exact resume, fixed
seeds; bf16 autocast on CUDA, fp32 on the CPU.
"""
from __future__ import annotations

import dataclasses
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..modeling.adapters import add_adapters, merge_adapters
from ..modeling.checkpoint import save_checkpoint
from ..modeling.model import MilcoModel
from .common import (DELTA_FILE, STATE_FILE, BackboneSettings, TrainerSettings, append_log, load_state, save_state,
                     start_run, warmup_cosine, write_delta)
from .connector_init import aligned_states, fit_connector
from .data import NtrexSettings, ParallelCorpus, load_ntrex
from .settings_cli import setting


@dataclasses.dataclass(kw_only=True)
class AlignSettings(BackboneSettings, NtrexSettings, TrainerSettings):
    """Stage 1's settings (``train align``'s flags)."""

    student: str = setting(help="MILCO checkpoint to start from: a folder, a hub id, or 'milco-mini-base'")
    teacher: str = setting(help="English SPLADE masked-LM folder (transformers layout), or 'splade-tiny'")
    steps: int = 1000
    batch_size: int = setting(8, help="English sentences per step")
    translations_per_sentence: int = setting(2, help="foreign versions of each English sentence per step")
    rank: int = 8
    alpha: float = 16.0
    lr: float = 2e-4
    warmup: int = 50
    max_length: int = setting(96, help="tokens per sentence")
    validate_every: int = 250
    save_every: int = 100
    connector_init_sentences: int = setting(400, help="English sentences whose aligned token states warm-start "
                                                      "the connector (0: no warm start)")


class Teacher:
    """Max-pooled ReLU logits of an English SPLADE masked LM, computed once per English line."""

    def __init__(self, folder: str, device: torch.device):
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForMaskedLM.from_pretrained(folder).to(device).eval()
        self.device = device

    @torch.inference_mode()
    def targets(self, texts: list[str], max_length: int, batch_size: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for start in tqdm(range(0, len(texts), batch_size), desc="teacher", unit="batch"):
            batch = self.tokenizer(texts[start : start + batch_size], padding=True, truncation=True,
                                   max_length=max_length, return_tensors="pt").to(self.device)
            logits = self.model(**batch).logits.float()
            pooled = torch.relu((logits * batch["attention_mask"][..., None]).max(dim=1).values).cpu()
            for row in pooled:
                idx = row.nonzero()[:, 0]
                out.append((idx.numpy(), row[idx].numpy()))
        return out


def dense_targets(sparse: list[tuple[np.ndarray, np.ndarray]], vocab: int) -> torch.Tensor:
    dense = torch.zeros(len(sparse), vocab)
    for row, (idx, val) in enumerate(sparse):
        dense[row, torch.from_numpy(idx)] = torch.from_numpy(val)
    return dense


def union_mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean over texts of the MSE on the coordinates where student or teacher is non-zero.

    ``student`` is the raw (pre-ReLU) max logit. Where the teacher is positive the raw value is
    compared, so a student logit below zero is still pulled up (after a ReLU its gradient would be
    0 and the student can collapse to an empty vector, as a first run here did); elsewhere the
    student's ReLU is compared with 0.
    """
    union = ((student > 0) | (teacher > 0)).float()
    value = torch.where(teacher > 0, student, torch.relu(student))
    per_text = ((value - teacher) ** 2 * union).sum(dim=1) / union.sum(dim=1).clamp(min=1)
    return per_text.mean()


def schedule(train_lines: list[int], languages: list[str], settings: AlignSettings) -> list[tuple[list[int], list[list[str]]]]:
    """Every step's English lines and, per line, the languages of its translations (seeded)."""
    rng = random.Random(settings.seed)
    steps, pool = [], []
    for _ in range(settings.steps):
        if len(pool) < settings.batch_size:
            refill = list(train_lines)
            rng.shuffle(refill)
            pool.extend(refill)
        lines, pool = pool[: settings.batch_size], pool[settings.batch_size :]
        langs = [rng.sample(languages, settings.translations_per_sentence) for _ in lines]
        steps.append((lines, langs))
    return steps


class AlignTrainer:
    def __init__(self, settings: AlignSettings):
        self.s = settings
        self.device, model, self.tokenizer, self.en_tokens = start_run(
            settings.out, settings.seed, settings.threads, settings.device, settings.student)
        self.model: MilcoModel = model.to(self.device)
        for param in model.parameters():
            param.requires_grad_(False)
        self.corpus: ParallelCorpus = load_ntrex(settings.ntrex_dir, settings.languages)
        self.train_lines, self.valid_lines = self.corpus.split(settings.validation_documents, settings.seed)
        teacher = Teacher(settings.teacher, self.device)
        self.teacher = teacher.targets(self.corpus.english, settings.max_length)
        if settings.connector_init_sentences:
            self.warm_start_connector(teacher)
        add_adapters(model.m_model, settings.adapter_layers, settings.rank, settings.alpha)
        model.projector.requires_grad_(True)
        model.to(self.device).train()
        self.trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.optimizer = torch.optim.AdamW(self.trainable.values(), lr=settings.lr, weight_decay=0.0)
        self.steps = schedule(self.train_lines, settings.languages, settings)
        self.step = 0

    def warm_start_connector(self, teacher: Teacher) -> None:
        """Fit the connector on aligned English token states before training (see :mod:`.connector_init`)."""
        lines = self.train_lines[: self.s.connector_init_sentences]
        inputs, targets = aligned_states(self.model, self.tokenizer, teacher.model, teacher.tokenizer,
                                         [self.corpus.english[i] for i in lines], self.s.max_length)
        mse = fit_connector(self.model.projector, inputs, targets, seed=self.s.seed)
        self.log({"step": 0, "connector_init_tokens": int(inputs.shape[0]), "connector_init_mse": round(mse, 4),
                  "teacher_state_variance": round(float(targets.var()), 4)})

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 10% of the peak."""
        return warmup_cosine(step, self.s.lr, self.s.warmup, self.s.steps)

    def _max_logits(self, texts: list[str]) -> torch.Tensor:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.s.max_length, return_tensors="pt")
        ids, mask = batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            hidden = self.model.hidden_states(ids, mask)
            return self.model.pivot_max_logits(hidden, mask, relu=False)

    def loss(self, lines: list[int], langs: list[list[str]]) -> tuple[torch.Tensor, dict[str, float]]:
        vocab = self.model.config.en_vocab_size
        english = [self.corpus.english[i] for i in lines]
        foreign = [self.corpus.translations[lang][i] for i, ls in zip(lines, langs) for lang in ls]
        en_targets = dense_targets([self.teacher[i] for i in lines], vocab).to(self.device)
        fo_targets = en_targets.repeat_interleave(len(langs[0]), dim=0)
        en_loss = union_mse(self._max_logits(english), en_targets)
        fo_loss = union_mse(self._max_logits(foreign), fo_targets)
        return en_loss + fo_loss, {"english": en_loss.item(), "foreign": fo_loss.item()}

    def train(self, resume: bool = False) -> dict:
        if resume and (self.s.out / STATE_FILE).is_file():
            self.restore()
        bar = tqdm(total=self.s.steps, initial=self.step, desc="align", unit="step")
        started = time.time()
        while self.step < self.s.steps:
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr_at(self.step)
            loss, parts = self.loss(*self.steps[self.step])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.trainable.values(), 1.0)
            self.optimizer.step()
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", en=f"{parts['english']:.3f}", fo=f"{parts['foreign']:.3f}")
            if self.step % self.s.validate_every == 0 or self.step == self.s.steps:
                self.log({"step": self.step, "train_loss": loss.item(), **self.validate(),
                          "elapsed_s": round(time.time() - started, 1)})
            if self.step % self.s.save_every == 0:
                self.checkpoint()
        bar.close()
        return self.finish()

    @torch.inference_mode()
    def validate(self, limit: int = 60) -> dict[str, float]:
        """Validation loss, foreign→English top-1 matching and terms per text on held-out documents."""
        self.model.eval()
        lines = self.valid_lines[:limit]
        english_raw = self._batched([self.corpus.english[i] for i in lines])
        english = torch.log1p(torch.relu(english_raw))
        targets = dense_targets([self.teacher[i] for i in lines], self.model.config.en_vocab_size).to(self.device)
        metrics: dict[str, float] = {"valid_en_loss": union_mse(english_raw, targets).item()}
        accuracy, terms, losses = [], [(english > 0).sum(dim=1).float().mean().item()], []
        for lang in self.s.languages:
            raw = self._batched([self.corpus.translations[lang][i] for i in lines])
            losses.append(union_mse(raw, targets).item())
            foreign = torch.log1p(torch.relu(raw))
            accuracy.append((foreign @ english.T).argmax(dim=1).eq(torch.arange(len(lines), device=self.device)).float().mean().item())
            terms.append((foreign > 0).sum(dim=1).float().mean().item())
            metrics[f"match_{lang}"] = round(accuracy[-1], 4)
        metrics.update(valid_fo_loss=float(np.mean(losses)), match_mean=float(np.mean(accuracy)),
                       terms_per_text=float(np.mean(terms)))
        self.model.train()
        return metrics

    def _batched(self, texts: list[str], size: int = 32) -> torch.Tensor:
        return torch.cat([self._max_logits(texts[i : i + size]).float() for i in range(0, len(texts), size)])

    def log(self, record: dict) -> None:
        append_log(self.s.out, record)

    def checkpoint(self) -> None:
        save_state(self.s.out / STATE_FILE, self.step, self.trainable, self.optimizer, self.s)

    def restore(self) -> None:
        self.step = load_state(self.s.out / STATE_FILE, self.trainable, self.optimizer)["step"]

    def finish(self) -> dict:
        """Write the delta (adapters + connector), then the merged, self-contained checkpoint."""
        metadata = {"adapter_layers": json.dumps(self.s.adapter_layers), "rank": str(self.s.rank),
                    "alpha": str(self.s.alpha), "student": self.s.student, "steps": str(self.s.steps)}
        write_delta(self.s.out / DELTA_FILE, self.trainable, metadata)
        self.model.eval().cpu()
        merge_adapters(self.model.m_model)
        save_checkpoint(self.model, self.tokenizer, self.en_tokens, self.s.out / "model")
        return {"delta": str(self.s.out / DELTA_FILE), "model": str(self.s.out / "model")}
