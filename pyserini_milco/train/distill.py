"""Stage 2, contrastive distillation, as the MILCO paper trains it.

Each group is one query with 1 positive and k negatives (default 7). The student's score of a pair
is the dual-view dot product (pivot·pivot + source·source, the LexEcho head and its ``scale`` are
trained here); the loss is ``KL(teacher ‖ student)`` between the softmaxes over each group's
passages, plus a sparsity penalty on the vectors: L1 (the paper: λ_q = 1e-3 on queries, λ_d = 1e-5
on documents, pivot view only) or FLOPS (SPLADE's ``Σ_v (mean_i w_iv)²``), both ramped up
quadratically over ``reg_warmup`` steps as SPLADE does, so ranking is learned before terms are cut.
The source view is not penalised unless ``regularize_source`` asks for it: a first milco-mini run
that penalised it (λ_q = 1e-2) drove every LexEcho output below zero within 160 steps, where the
ReLU passes no gradient, and the head never came back (dual view = pivot view exactly).

What is trained: low-rank adapters on the chosen backbone layers, the connector, LexEcho (with its
own learning rate: it starts from a seeded random init) and, optionally, the English head's
transform and bias (``train_head``; the decoder stays tied to the English embeddings). Progress
bar, validation on the development set every ``validate_every`` steps (the best checkpoint by mean
nDCG@10 among those within the asked sparsity is the one exported), atomic resumable state, fixed seeds, bf16 autocast on CUDA, fp32 on
the CPU.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..modeling.adapters import add_adapters, merge_adapters
from ..modeling.checkpoint import save_checkpoint
from ..encoding.encoder import MilcoEncoder, pad_sequences
from ..modeling.model import MilcoModel
from .common import DELTA_FILE, BackboneSettings, Stage2Settings, StepLoop, seeded_batches, start_run, write_delta
from .devset import evaluate_retriever, load_devset
from .groups import TrainingGroup, read_groups
from .settings_cli import setting, two_words
from .teachers import Teacher, load_teacher

BEST_FILE = "best-trainable.pt"
REGULARIZERS = ("l1", "flops")
ECHO_PARAMETERS = ("echo.weight", "echo.bias", "scale")
HEAD_PARAMETERS = ("mlm_head.predictions.transform.", "mlm_head.predictions.bias")


@dataclasses.dataclass(kw_only=True)
class DistillSettings(BackboneSettings, Stage2Settings):
    """``train distill``'s settings."""

    steps: int = 2000
    batch_size: int = 4
    rank: int = 16
    alpha: float = 32.0
    lr: float = setting(2e-4, help="peak learning rate of adapters, connector and head")
    echo_lr: float = setting(2e-3, help="peak learning rate of the new LexEcho head and its scale")
    warmup: int = setting(-1, help="warm-up steps (-1: 3% of the steps, as the paper)")
    micro_batch: int = setting(8, help="texts run through the model together, grouped by length (less padding; "
                                       "same gradients)")
    regularizer: str = setting("l1", choices=REGULARIZERS, help="sparsity penalty on the vectors")
    lambda_q: float = setting(1e-3, help="penalty weight on queries (paper: 1e-3)")
    lambda_d: float = setting(1e-5, help="penalty weight on passages (paper: 1e-5)")
    reg_warmup: int = setting(500, help="steps over which the penalty ramps up quadratically")
    regularize_source: bool = setting(False, spelling=two_words("on", "off"),
                                      help="also penalise the source (LexEcho) view, as the paper does not (on "
                                           "milco-mini it silenced the LexEcho head for good)")
    train_head: bool = setting(False, help="also train the English head's transform and bias")
    select_max_query_terms: float | None = setting(None, help="export only a checkpoint whose development queries "
                                                              "average at most this many terms")
    select_max_passage_terms: float | None = setting(None, help="export only a checkpoint whose development "
                                                                "passages average at most this many terms")
    validate_every: int = 200
    save_every: int = 50

    def __post_init__(self) -> None:
        if self.regularizer not in REGULARIZERS:
            raise ValueError(f"regularizer {self.regularizer!r}: choose one of {', '.join(REGULARIZERS)}")
        if self.warmup < 0:
            self.warmup = max(1, round(0.03 * self.steps))  # the paper's 3%


@dataclasses.dataclass
class Encoded:
    """A batch of texts as the loss needs them: pivot ``[N, Ve]``, token ids and source weights ``[N, L]``."""

    pivot: torch.Tensor
    ids: torch.Tensor
    source: torch.Tensor | None


def group_scores(queries: Encoded, passages: Encoded, group_size: int) -> torch.Tensor:
    """Dual-view dot products ``[B, group_size]`` of each query with its own group's passages."""
    batch = queries.pivot.shape[0]
    pivot = passages.pivot.view(batch, group_size, -1)
    scores = torch.einsum("bv,bgv->bg", queries.pivot, pivot)
    if queries.source is not None and passages.source is not None:
        scores = scores + source_scores(queries.ids, queries.source, passages.ids, passages.source, group_size)
    return scores


def source_scores(q_ids: torch.Tensor, q_weights: torch.Tensor, p_ids: torch.Tensor, p_weights: torch.Tensor,
                  group_size: int) -> torch.Tensor:
    """Source-view dot products ``[B, group_size]`` from per-token weights (queries ``[B, Lq]``,
    passages ``[B * group_size, Lp]``, 0 on padding).

    The source view sums weights per token id (repeated tokens add up), so its dot product is
    ``Σ_{i,j} w_i w_j [id_i = id_j]`` over the two texts' tokens.
    """
    batch = q_ids.shape[0]
    p_ids = p_ids.view(batch, group_size, -1)
    p_weights = p_weights.view(batch, group_size, -1)
    same = (q_ids[:, None, :, None] == p_ids[:, :, None, :]).to(p_weights.dtype)
    return torch.einsum("bq,bgqp,bgp->bg", q_weights, same, p_weights)


def kl_teacher_student(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``KL(softmax(teacher) ‖ softmax(student))`` per group, averaged over groups."""
    target = torch.log_softmax(teacher.float(), dim=-1)
    return torch.nn.functional.kl_div(torch.log_softmax(student.float(), dim=-1), target,
                                      reduction="batchmean", log_target=True)


def sparsity(weights: torch.Tensor, kind: str) -> torch.Tensor:
    """L1: mean over texts of Σ_v w; FLOPS: Σ_v (mean over texts of w)²."""
    return weights.sum(dim=1).mean() if kind == "l1" else (weights.mean(dim=0) ** 2).sum()


def ramp(step: int, warmup: int) -> float:
    """Quadratic ramp of the regulariser's weight, 0 → 1 over ``warmup`` steps."""
    return 1.0 if warmup <= 0 else min(1.0, (step / warmup) ** 2)


class DistillTrainer(StepLoop):
    desc = "distill"

    def __init__(self, settings: DistillSettings):
        self.s = settings
        self.device, model, self.tokenizer, self.en_tokens = start_run(
            settings.out, settings.seed, settings.threads, settings.device, settings.student)
        if not model.has_echo:
            raise ValueError(f"{settings.student}: stage 2 trains the LexEcho head, and this checkpoint has none (echo: false)")
        self.model: MilcoModel = model
        self.groups: list[TrainingGroup] = read_groups(settings.train, settings.negatives)
        self.teacher: Teacher = load_teacher(settings.teacher, settings.temperature, settings.device)
        self.devset = load_devset(settings.dev) if settings.dev else None
        self.trainable = self.prepare_parameters()
        self.optimizer = torch.optim.AdamW(self.parameter_groups(), weight_decay=0.0)
        self.state = self.trainable
        self.order = self.schedule()
        self.step, self.best = 0, {"step": None, "ndcg@10_mean": -1.0}

    def prepare_parameters(self) -> dict[str, torch.nn.Parameter]:
        """Freeze everything, add adapters, unfreeze connector, LexEcho and (optionally) the head's transform."""
        model = self.model
        model.requires_grad_(False)
        add_adapters(model.m_model, self.s.adapter_layers, self.s.rank, self.s.alpha)
        model.projector.requires_grad_(True)
        model.echo.requires_grad_(True)
        model.scale.requires_grad_(True)
        if self.s.train_head:
            model.mlm_head.predictions.transform.requires_grad_(True)
            model.mlm_head.predictions.bias.requires_grad_(True)
        model.to(self.device).train()
        return {n: p for n, p in model.named_parameters() if p.requires_grad}

    def parameter_groups(self) -> list[dict]:
        echo = [p for n, p in self.trainable.items() if n in ECHO_PARAMETERS]
        rest = [p for n, p in self.trainable.items() if n not in ECHO_PARAMETERS]
        return [{"params": rest, "peak": self.s.lr}, {"params": echo, "peak": self.s.echo_lr}]

    def schedule(self) -> list[list[int]]:
        """Every step's group indices: seeded passes over the shuffled groups."""
        return seeded_batches(list(range(len(self.groups))), self.s.batch_size, self.s.steps, self.s.seed)

    def encode(self, texts: Sequence[str], max_length: int) -> Encoded:
        """Both views of ``texts``, run in micro-batches of similar length (padding would otherwise
        double the backbone's work on passages of mixed lengths), returned in input order."""
        ids = self.tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        width = max(len(row) for row in ids)
        pad = self.tokenizer.pad_token_id
        parts: list[Encoded] = []
        for start in range(0, len(order), self.s.micro_batch):
            chosen = [ids[i] for i in order[start:start + self.s.micro_batch]]
            batch, mask = pad_sequences(chosen, pad)
            batch, mask = batch.to(self.device), mask.to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
                states = self.model.token_states(batch, mask)
                pivot = self.model.pivot_view(states, mask)
                source = self.model.source_view(states, mask)
            fill = width - batch.shape[1]
            parts.append(Encoded(pivot, nn.functional.pad(batch, (0, fill), value=pad), nn.functional.pad(source, (0, fill))))
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        inverse = inverse.to(self.device)
        return Encoded(*(torch.cat([getattr(p, f) for p in parts]).index_select(0, inverse)
                         for f in ("pivot", "ids", "source")))

    def loss(self, groups: Sequence[TrainingGroup], step: int) -> tuple[torch.Tensor, dict[str, float]]:
        queries = self.encode([g.query for g in groups], self.s.query_max_length)
        passages = self.encode([p for g in groups for p in g.passages], self.s.passage_max_length)
        student = group_scores(queries, passages, self.s.negatives + 1)
        teacher = self.teacher.score(groups).to(self.device)
        kl = kl_teacher_student(student, teacher)
        reg_q = sparsity(queries.pivot, self.s.regularizer)
        reg_d = sparsity(passages.pivot, self.s.regularizer)
        if self.s.regularize_source:
            reg_q = reg_q + sparsity(queries.source, self.s.regularizer)
            reg_d = reg_d + sparsity(passages.source, self.s.regularizer)
        weight = ramp(step, self.s.reg_warmup)
        total = kl + weight * (self.s.lambda_q * reg_q + self.s.lambda_d * reg_d)
        accuracy = (student.argmax(dim=1) == teacher.argmax(dim=1)).float().mean()
        return total, {"kl": kl.item(), "reg_q": reg_q.item(), "reg_d": reg_d.item(), "agree": accuracy.item(),
                       "q_terms": _terms(queries), "d_terms": _terms(passages)}

    def step_loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss([self.groups[i] for i in self.order[step]], step)

    def before_update(self) -> None:
        torch.nn.utils.clip_grad_norm_(self.trainable.values(), 1.0)

    def postfix(self, parts: dict[str, float]) -> dict[str, str]:
        return {**super().postfix(parts), "q": f"{parts['q_terms']:.0f}", "d": f"{parts['d_terms']:.0f}"}

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        """Development-set nDCG@10 / R@100 per setting and terms per text; keeps the best trainable tensors."""
        self.model.eval()
        encoder = self.dev_encoder
        counts: dict[str, list[int]] = {"query": [], "passage": []}

        def encode(texts: Sequence[str], kind: str):
            length = self.s.query_max_length if kind == "query" else self.s.passage_max_length
            vectors = encoder.encode_vectors(texts, batch_size=32, max_length=length)
            counts[kind] += [int((v.values >= 0.005).sum()) for v in vectors]
            return sparse_rows(vectors, encoder.dimension)

        metrics = evaluate_retriever(self.devset, encode, self.s.dev_settings)
        metrics.update(dev_query_terms=round(float(np.mean(counts["query"])), 1),
                       dev_passage_terms=round(float(np.mean(counts["passage"])), 1))
        metrics["eligible"] = self.eligible(metrics)
        if metrics["eligible"] and metrics["ndcg@10_mean"] > self.best["ndcg@10_mean"]:
            self.best = {"step": self.step, "ndcg@10_mean": metrics["ndcg@10_mean"]}
            torch.save({n: p.detach().cpu().clone() for n, p in self.trainable.items()}, self.s.out / BEST_FILE)
        self.model.train()
        return metrics

    @functools.cached_property
    def dev_encoder(self) -> MilcoEncoder:
        """An encoder around the model being trained, built once (it names all 250,002 source pieces)."""
        return MilcoEncoder(self.model, self.tokenizer, self.en_tokens, device=self.device,
                            dtype=next(self.model.parameters()).dtype)

    def eligible(self, metrics: dict[str, float]) -> bool:
        """Whether a validated checkpoint meets the sparsity the run asks of the exported model."""
        limits = ((self.s.select_max_query_terms, metrics["dev_query_terms"]),
                  (self.s.select_max_passage_terms, metrics["dev_passage_terms"]))
        return all(limit is None or value <= limit for limit, value in limits)

    def finish(self) -> dict:
        """Export the best validated tensors (else the last): the delta, then the merged checkpoint."""
        best = self.s.out / BEST_FILE
        if best.is_file():
            with torch.no_grad():
                for name, value in torch.load(best, map_location="cpu").items():
                    self.trainable[name].copy_(value)
        metadata = {"adapter_layers": json.dumps(self.s.adapter_layers), "rank": str(self.s.rank),
                    "alpha": str(self.s.alpha), "student": self.s.student, "stage": "distill",
                    "steps": str(self.s.steps), "best_step": str(self.best["step"])}
        write_delta(self.s.out / DELTA_FILE, self.trainable, metadata)
        self.model.eval().cpu()
        merge_adapters(self.model.m_model)
        save_checkpoint(self.model, self.tokenizer, self.en_tokens, self.s.out / "model")
        return {"delta": str(self.s.out / DELTA_FILE), "model": str(self.s.out / "model"), "best": self.best}


def _terms(encoded: Encoded) -> float:
    """Average non-zero terms per text over both views (what a JsonVectorCollection line would hold,
    before quantization drops weights under 0.005)."""
    count = (encoded.pivot > 0).sum(dim=1)
    if encoded.source is not None:
        per_id = [torch.unique(ids[w > 0]).numel() for ids, w in zip(encoded.ids, encoded.source)]
        count = count + torch.tensor(per_id, device=count.device)
    return count.float().mean().item()


def sparse_rows(vectors, dimension: int):
    """SciPy CSR ``[len(vectors), dimension]`` of :class:`~pyserini_milco.encoding.terms.SparseVector` rows."""
    from scipy.sparse import csr_matrix

    indptr = np.cumsum([0] + [len(v) for v in vectors])
    indices = np.concatenate([v.indices for v in vectors]) if vectors else np.zeros(0, dtype=np.int64)
    values = np.concatenate([v.values for v in vectors]) if vectors else np.zeros(0, dtype=np.float32)
    return csr_matrix((values.astype(np.float64), indices, indptr), shape=(len(vectors), dimension))
