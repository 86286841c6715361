"""Stage 2 above the frozen backbone: KL distillation training LexEcho and,
with ``train_bias``, the English decoder's bias (a per-term threshold on the pivot view), and with
``train_connector`` the connector and the English head's transform as well.

Why a trainer of its own: in both full stage-2 runs of milco-mini on the CPU (see
``docs/milco-mini.md``) every LexEcho output went below zero early, where the ReLU passes no
gradient, and the source view never came back (dual view = pivot view). Here the echo head starts
*uniform* (weight 0, bias 1, ``scale`` 0.5: every token weighs the same, i.e. the source view
counts shared pieces, as a bag-of-words match does), so every token gets a gradient from the
first step, and the KL then learns which pieces matter.

With the backbone and connector frozen, each text's backbone token states and its max-pooled decoder
logits are fixed: they are computed once (one forward pass per distinct text), and a step runs only
the 1 × hidden echo head over cached states and, with ``train_bias``, re-applies the bias to the
cached logits: the pivot view is ``log1p(relu(max_t z_t + b))`` and the bias ``b`` is the same for
every token, so ``max_t (z_t + b) = max_t z_t + b``. Only the logits above ``-logit_margin`` are
cached, so the bias may rise by at most that much (it is clamped there while the connector is
frozen); falling is unlimited, and with an L1 on the pivot view it is how terms are cut. Thousands
of steps take minutes on a CPU.

With ``train_connector`` the logits move with the connector, so a step recomputes them from the
cached backbone states, but only at each text's cached terms (its *candidates*): the max over
tokens is found without gradients, then the winning token's logit of each live term is recomputed
with them, which gives the gradient the whole vocabulary would give at those terms (a term outside
the candidates counts as zero). The development set is scored over the whole vocabulary, as
encoding does. A step then costs about a second.

The development set is cached the same way, and scored as the stock search scores: queries pruned
by :data:`~pyserini_milco.encoding.options.DEFAULT_QUERY_PRUNE`.

What it writes (``OUT/``): the log, resumable state, ``delta.safetensors`` (``echo.weight``,
``echo.bias``, ``scale``, with ``train_bias`` ``mlm_head.predictions.bias``, with ``train_connector``
``projector.*`` and ``mlm_head.predictions.transform.*``: the best development checkpoint, else the
last) and the merged model.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..encoding.encoder import pad_sequences, split_rows
from ..encoding.pruning import PruneSpec, prune
from ..encoding.terms import SparseVector
from ..encoding.options import DEFAULT_QUERY_PRUNE, parse_optional_prune
from ..modeling.checkpoint import save_checkpoint
from ..modeling.model import MilcoModel
from .common import DELTA_FILE, Stage2Settings, StepLoop, seeded_batches, start_run, write_delta
from .devset import DevSet, evaluate_retriever, load_devset
from .distill import ECHO_PARAMETERS, kl_teacher_student, source_scores, sparse_rows
from .groups import TrainingGroup, read_groups
from .settings_cli import NEGATED_SWITCH, Spelling, setting, two_words
from .teachers import load_teacher

BEST_FILE = "best-echo.pt"
#: the loss's own trained multiplier on the student's scores, kept in the resumable state
MULTIPLIER = "loss.log_multiplier"
#: every token's starting weight: milco-mini's source scores then spread a quarter as much as its
#: pivot scores within a group (a scale of 1 spreads them as much: the source view would drown the pivot)
UNIFORM_SCALE = 0.5
#: decoder logits (bias included) cached per text by default: those above -LOGIT_MARGIN
LOGIT_MARGIN = 1.0
DECODER_BIAS = "mlm_head.predictions.bias"
#: what ``train_connector`` also trains: the connector and the English head's transform (name prefixes)
CONNECTOR_PREFIXES = ("projector.", "mlm_head.predictions.transform.")


#: ``--dev-query-prune``: unset (the stock search's pruning), ``none``, or ``METHOD:VALUE[:VIEW]``
DEV_QUERY_PRUNE = Spelling(show=lambda default: None, read=lambda text: parse_optional_prune(text, DEFAULT_QUERY_PRUNE))


@dataclasses.dataclass(kw_only=True)
class EchoSettings(Stage2Settings):
    """``train echo``'s settings."""

    out: Path = setting(help="output folder: log, trainer state, delta (echo tensors), merged model")
    groups: int = setting(4000, help="groups drawn (seeded) from the file; each distinct text runs through the "
                                     "frozen model once")
    steps: int = 400
    batch_size: int = 32
    lr: float = 1e-2
    warmup: int = 50
    source_l1_q: float = setting(0.0, help="L1 weight on the queries' source view (1e-3 already silenced the head "
                                           "on milco-mini)")
    source_l1_d: float = setting(0.0, help="L1 weight on the passages' source view")
    train_bias: bool = setting(False, help="also train the English decoder's bias: a per-term threshold on the "
                                           "pivot view")
    bias_lr: float = setting(1e-2, help="peak learning rate of the decoder bias")
    pivot_l1_q: float = setting(0.0, help="L1 weight on the queries' pivot view (with --train-bias or "
                                          "--train-connector)")
    pivot_l1_d: float = setting(0.0, help="L1 weight on the passages' pivot view (with --train-bias or "
                                          "--train-connector)")
    mass_floor: float = setting(0.0, help="weight of a floor under each text's pivot-view mass (L1): the relative "
                                          "shortfall of a text's mass under its mass at the start is penalised, "
                                          "so that the KL cannot thin the vectors (0: off; with --train-bias or "
                                          "--train-connector)")
    train_connector: bool = setting(False, help="also train the connector and the English head's transform, on "
                                                "the cached backbone states (logits recomputed at each text's cached "
                                                "terms; the development set over the whole vocabulary)")
    connector_lr: float = setting(3e-4, help="peak learning rate of the connector and head transform")
    logit_margin: float = setting(LOGIT_MARGIN, help="cache each text's decoder logits above -MARGIN: how far the "
                                                     "bias may rise (with the connector frozen), or the candidate "
                                                     "terms of --train-connector (smaller is faster)")
    train_multiplier: bool = setting(True, flag="--freeze-multiplier", spelling=NEGATED_SWITCH,
                                     help="keep the loss's multiplier on the student's scores at its starting "
                                          "value (matched to the teacher's spread) instead of training it")
    uniform_init: bool = setting(True, flag="--init", spelling=two_words("uniform", "keep"),
                                 help="uniform: start every token at weight `scale` (echo weight 0, bias 1); keep: "
                                      "the checkpoint's head")
    dev_query_prune: PruneSpec | None = setting(DEFAULT_QUERY_PRUNE, spelling=DEV_QUERY_PRUNE,
                                                help="prune development queries, e.g. topk:20 or 'none' (default: "
                                                     f"as the stock search does, {DEFAULT_QUERY_PRUNE.label})")
    validate_every: int = 50
    save_every: int = 50


@dataclasses.dataclass
class FrozenText:
    """What the frozen model gives one text: its token ids ``[L]``, backbone states ``[L, H]``
    (float16, to halve the cache) and max-pooled decoder logits without the decoder bias, at the
    terms whose logit with the bias is above ``-margin``."""

    ids: torch.Tensor
    states: torch.Tensor
    logits: SparseVector


@torch.inference_mode()
def freeze_texts(model: MilcoModel, tokenizer, texts: Sequence[str], max_length: int, desc: str,
                 batch_size: int = 32, margin: float = LOGIT_MARGIN) -> dict[str, FrozenText]:
    """Every distinct text of ``texts`` through the frozen model, in batches of similar length."""
    unique = sorted(set(texts), key=len)
    cache: dict[str, FrozenText] = {}
    for start in tqdm(range(0, len(unique), batch_size), desc=desc, unit="batch"):
        chunk = unique[start:start + batch_size]
        ids = tokenizer(chunk, truncation=True, max_length=max_length)["input_ids"]
        batch, mask = pad_sequences(ids, tokenizer.pad_token_id)
        states = model.token_states(batch, mask)
        lengths = mask.sum(dim=1).tolist()
        logits = model.token_max_logits(states, lengths, relu=False)
        bias = model.mlm_head.predictions.bias
        for text, row, text_states, vector in zip(chunk, ids, states.split(lengths), logits):
            kept = (vector > -margin).nonzero().squeeze(1)
            cache[text] = FrozenText(torch.tensor(row), text_states.half(),
                                     SparseVector(kept.numpy().astype(np.int64), (vector - bias)[kept].numpy()))
    return cache


def pivot_rows(texts: Sequence[FrozenText], bias: torch.Tensor) -> torch.Tensor:
    """The pivot view ``log1p(relu(z + b))`` of cached texts as dense rows ``[N, Ve]``
    (differentiable in the bias)."""
    rows = torch.cat([torch.full((len(t.logits),), i, dtype=torch.long) for i, t in enumerate(texts)])
    cols = torch.from_numpy(np.concatenate([t.logits.indices for t in texts]))
    values = torch.from_numpy(np.concatenate([t.logits.values for t in texts]))
    dense = torch.zeros(len(texts), bias.shape[0]).index_put((rows, cols), values + bias[cols])
    return torch.log1p(torch.relu(dense))


def pivot_vector(text: FrozenText, bias: torch.Tensor) -> SparseVector:
    """The pivot view of one cached text under ``bias`` as a :class:`SparseVector`."""
    weights = np.log1p(np.maximum(text.logits.values + bias.detach().numpy()[text.logits.indices], 0.0))
    kept = weights > 0
    return SparseVector(text.logits.indices[kept], weights[kept].astype(np.float32))


def start_mass(text: FrozenText, bias: np.ndarray) -> float:
    """A cached text's pivot-view mass (L1) under the model it was cached with (``bias``: that
    model's decoder bias; the cached logits are the ones without it)."""
    return float(np.log1p(np.maximum(text.logits.values + bias[text.logits.indices], 0.0)).sum())


def candidate_pivot_rows(model: MilcoModel, texts: Sequence[FrozenText], pad_id: int, chunk: int = 32) -> torch.Tensor:
    """The pivot view ``[N, Ve]`` of cached texts recomputed from their backbone states through the
    current connector and head, at each text's cached terms only; differentiable in the connector,
    the head's transform and the decoder bias.

    The max over tokens is found without gradients (texts sorted by candidate count, so a chunk's
    padding stays small); then only the winning token's logit of each live (positive) term is
    recomputed with gradients: the same gradient as the full max, at a fraction of the memory.
    """
    predictions = model.mlm_head.predictions
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i].logits), len(texts[i].ids)))
    texts = [texts[i] for i in order]
    _, states, mask = padded(texts, pad_id)
    candidates = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(t.logits.indices) for t in texts],
                                                 batch_first=True, padding_value=-1)
    columns = candidates.clamp(min=0)
    tokens = predictions.transform(torch.nn.functional.gelu(model.projector(states)))
    lengths, counts = mask.sum(dim=1), (candidates >= 0).sum(dim=1)
    found = []
    with torch.no_grad():
        for start in range(0, len(texts), chunk):
            part = slice(start, start + chunk)
            length, count = int(lengths[part].max()), int(counts[part].max())
            vocab = columns[part, :count]
            logits = torch.einsum("nlh,nch->nlc", tokens[part, :length], predictions.decoder.weight[vocab])
            logits = (logits + predictions.bias[vocab][:, None, :]).masked_fill(~mask[part, :length, None].bool(), float("-inf"))
            best, winner = logits.max(dim=1)
            text, column = ((best > 0) & (candidates[part, :count] >= 0)).nonzero(as_tuple=True)
            found.append((text + start, vocab[text, column], winner[text, column]))
    text, term, token = (torch.cat(parts) for parts in zip(*found))
    live = (tokens[text, token] * predictions.decoder.weight[term]).sum(dim=1) + predictions.bias[term]
    rows = torch.zeros(len(texts), predictions.bias.shape[0]).index_put((text, term), torch.log1p(torch.relu(live)))
    return rows[torch.argsort(torch.tensor(order))]


@torch.inference_mode()
def recomputed_pivot_vectors(model: MilcoModel, texts: Sequence[FrozenText], batch_size: int = 64) -> list[SparseVector]:
    """The pivot view of cached texts over the whole vocabulary, from their backbone states through
    the current connector and head (what encoding gives)."""
    vectors = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        rows = torch.log1p(model.token_max_logits(torch.cat([t.states.float() for t in chunk]), [len(t.ids) for t in chunk]))
        vectors += split_rows(rows.to_sparse())
    return vectors


def padded(texts: Sequence[FrozenText], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ids ``[N, L]``, float32 states ``[N, L, H]`` and mask ``[N, L]`` of cached texts."""
    ids, mask = pad_sequences([t.ids.tolist() for t in texts], pad_id)
    states = torch.nn.utils.rnn.pad_sequence([t.states.float() for t in texts], batch_first=True)
    return ids, states, mask


def source_vector(text: FrozenText, weights: torch.Tensor, pivot_size: int) -> SparseVector:
    """The source view of a text as a :class:`SparseVector` (repeated pieces add up, ids offset by
    ``pivot_size``, zero weights dropped)."""
    ids, inverse = np.unique(text.ids.numpy(), return_inverse=True)
    summed = np.zeros(len(ids), dtype=np.float32)
    np.add.at(summed, inverse, weights.numpy())
    kept = summed > 0
    return SparseVector(ids[kept] + pivot_size, summed[kept])


class EchoTrainer(StepLoop):
    desc = "echo"
    log_every = 50

    def __init__(self, settings: EchoSettings):
        self.s = settings
        _, model, self.tokenizer, self.en_tokens = start_run(settings.out, settings.seed, settings.threads, "cpu",
                                                             settings.student)
        if not model.has_echo:
            raise ValueError(f"{settings.student}: this checkpoint has no LexEcho head (echo: false)")
        self.model: MilcoModel = model.eval().requires_grad_(False)
        if settings.uniform_init:
            with torch.no_grad():
                model.echo.weight.zero_()
                model.echo.bias.fill_(1.0)
                model.scale.fill_(UNIFORM_SCALE)
        names = {*ECHO_PARAMETERS, *((DECODER_BIAS,) if settings.train_bias else ())}
        prefixes = self.trainable_prefixes()
        self.trainable = {name: param for name, param in model.named_parameters()
                          if name in names or name.startswith(prefixes)}
        for param in self.trainable.values():
            param.requires_grad_(True)
        self.bias = model.mlm_head.predictions.bias
        self.start_bias = self.bias.detach().numpy().copy()
        self.bias_ceiling = torch.from_numpy(self.start_bias) + settings.logit_margin
        self.groups = self.choose_groups()
        self.devset = load_devset(settings.dev) if settings.dev else None
        self.freeze_caches()
        self.pivot_moves = self.pivot_trains()
        self.fixed_pivot: torch.Tensor | None = None
        if not self.pivot_moves:
            self.fixed_pivot = self.all_pivot_scores()
        self.teacher_scores = load_teacher(settings.teacher, settings.temperature).score(self.groups).float()
        # the loss's own multiplier on the student's scores: the frozen pivot scores are ~5x as spread
        # as the teacher's logits, and only a global factor (which changes no ranking) can match them
        self.log_multiplier = torch.nn.Parameter(torch.tensor(self.initial_log_multiplier()),
                                                 requires_grad=settings.train_multiplier)
        self.state = {**self.trainable, MULTIPLIER: self.log_multiplier}
        self.optimizer = torch.optim.AdamW(self.parameter_groups(), weight_decay=0.0)
        self.order = seeded_batches(list(range(len(self.groups))), settings.batch_size, settings.steps, settings.seed)
        self.step, self.best = 0, {"step": None, "ndcg@10_mean": -1.0}
        self.pivot_only: float | None = None

    def trainable_prefixes(self) -> tuple[str, ...]:
        """Name prefixes of what trains besides LexEcho and the bias: the connector and the head's
        transform with ``train_connector``."""
        return CONNECTOR_PREFIXES if self.s.train_connector else ()

    def freeze_caches(self) -> None:
        """Every distinct training and development text through the frozen model, once:
        ``queries``, ``passages`` and ``dev_cache``."""
        margin = self.s.logit_margin
        self.queries = freeze_texts(self.model, self.tokenizer, [g.query for g in self.groups],
                                    self.s.query_max_length, "freeze queries", margin=margin)
        self.passages = freeze_texts(self.model, self.tokenizer, [p for g in self.groups for p in g.passages],
                                     self.s.passage_max_length, "freeze passages", margin=margin)
        self.dev_cache = self.freeze_devset() if self.devset else {}

    def pivot_trains(self) -> bool:
        """Whether the pivot view moves in training (if not, its scores are computed once)."""
        return self.s.train_bias or self.s.train_connector

    def parameter_groups(self) -> list[dict]:
        """The optimizer's groups, each with its peak learning rate: the decoder bias, the connector
        and head transform, and the rest (LexEcho, and the loss's multiplier when it is trained)."""
        peaks = {"bias": self.s.bias_lr, "connector": self.s.connector_lr, "rest": self.s.lr}
        params: dict[str, list[torch.Tensor]] = {kind: [] for kind in peaks}
        for name, param in self.state.items():
            if param.requires_grad:
                kind = "bias" if name == DECODER_BIAS else "connector" if name.startswith(CONNECTOR_PREFIXES) else "rest"
                params[kind].append(param)
        return [{"params": params[kind], "peak": peak} for kind, peak in peaks.items() if params[kind]]

    def choose_groups(self) -> list[TrainingGroup]:
        """A seeded sample of ``groups`` groups from the file (all of them if it holds fewer)."""
        groups = read_groups(self.s.train, self.s.negatives)
        if len(groups) <= self.s.groups:
            return groups
        chosen = np.random.default_rng(self.s.seed).choice(len(groups), self.s.groups, replace=False)
        return [groups[i] for i in sorted(chosen)]

    @torch.no_grad()
    def all_pivot_scores(self, chunk: int = 64) -> torch.Tensor:
        """Pivot scores ``[groups, group_size]`` under the current bias, computed ``chunk`` groups at a time."""
        return torch.cat([self.pivot_part(list(range(start, min(start + chunk, len(self.groups)))))[0]
                          for start in range(0, len(self.groups), chunk)])

    @torch.no_grad()
    def initial_log_multiplier(self) -> float:
        """``log(teacher spread / student spread)``, spreads being the mean within-group standard
        deviation of the scores at the start (pivot + initial source view)."""
        sample = list(range(min(256, len(self.groups))))
        student = self.pivot_part(sample)[0] + self.source_part(sample)[0]
        return float(torch.log(self.teacher_scores[sample].std(dim=1).mean() / student.std(dim=1).mean()))

    def dev_texts(self, devset: DevSet) -> tuple[list[str], list[str]]:
        """The query and pool texts of a development set that the settings use."""
        queries = sorted({setting.split("-")[0] for setting in self.s.dev_settings})
        pools = sorted({setting.split("-")[1] for setting in self.s.dev_settings})
        return ([t for language in queries for t in devset.topics(language)[1]],
                [t for language in pools for t in devset.pool(language)[1]])

    def freeze_devset(self) -> dict[str, dict[str, FrozenText]]:
        """Every development text the settings use, by kind (``query`` / ``passage``)."""
        query_texts, pool_texts = self.dev_texts(self.devset)
        margin = self.s.logit_margin
        return {"query": freeze_texts(self.model, self.tokenizer, query_texts, self.s.query_max_length, "freeze dev queries",
                                      margin=margin),
                "passage": freeze_texts(self.model, self.tokenizer, pool_texts, self.s.passage_max_length,
                                        "freeze dev passages", margin=margin)}

    def echo_weights(self, texts: Sequence[FrozenText]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``[N, L]`` and LexEcho weights ``[N, L]`` (0 on padding) of cached texts."""
        ids, states, mask = padded(texts, self.tokenizer.pad_token_id)
        weights = torch.relu(self.model.echo(states).squeeze(-1)) * self.model.scale
        return ids, weights * mask

    def batch_texts(self, batch: Sequence[int]) -> tuple[list[FrozenText], list[FrozenText]]:
        groups = [self.groups[i] for i in batch]
        return [self.queries[g.query] for g in groups], [self.passages[p] for g in groups for p in g.passages]

    def pivot_rows(self, texts: Sequence[FrozenText]) -> torch.Tensor:
        """The pivot view ``[N, Ve]`` of cached texts under the current trainable tensors."""
        if self.s.train_connector:
            return candidate_pivot_rows(self.model, texts, self.tokenizer.pad_token_id)
        return pivot_rows(texts, self.bias)

    def pivot_vectors(self, texts: Sequence[FrozenText]) -> list[SparseVector]:
        """The pivot view of cached texts as the encoder would give it now (over the whole
        vocabulary when the connector trains)."""
        if self.s.train_connector:
            return recomputed_pivot_vectors(self.model, texts)
        return [pivot_vector(t, self.bias) for t in texts]

    def pivot_part(self, batch: Sequence[int]) -> tuple[torch.Tensor, dict[str, torch.Tensor], float, float]:
        """Pivot-view scores ``[B, group_size]`` of the groups ``batch`` (the cached ones when the bias
        is frozen), the loss's pivot terms (the queries' and passages' L1, mean per text, and with
        ``mass_floor`` their mean relative shortfall under the starting mass) and terms per text."""
        if self.fixed_pivot is not None:
            return self.fixed_pivot[batch], {}, float("nan"), float("nan")
        queries, passages = self.batch_texts(batch)
        q, p = self.pivot_rows(queries), self.pivot_rows(passages)
        scores = torch.einsum("bv,bgv->bg", q, p.view(len(batch), self.s.negatives + 1, -1))
        terms = {"pivot_l1_q": q.sum(dim=1).mean(), "pivot_l1_d": p.sum(dim=1).mean()}
        if self.s.mass_floor:
            terms["mass_shortfall"] = torch.cat([self.mass_shortfall(queries, q), self.mass_shortfall(passages, p)]).mean()
        return scores, terms, (q > 0).sum(dim=1).float().mean().item(), (p > 0).sum(dim=1).float().mean().item()

    def mass_shortfall(self, texts: Sequence[FrozenText], rows: torch.Tensor) -> torch.Tensor:
        """Each text's relative shortfall of pivot mass under its mass at the start (0 where it holds it)."""
        start = torch.tensor([start_mass(t, self.start_bias) for t in texts])
        return torch.relu(start - rows.sum(dim=1)) / start.clamp(min=1e-6)

    def source_part(self, batch: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Source-view scores ``[B, group_size]`` of the groups ``batch``, the queries' and passages'
        L1 (mean per text) and the share of query tokens with a non-zero weight."""
        queries, passages = self.batch_texts(batch)
        q_ids, q_weights = self.echo_weights(queries)
        p_ids, p_weights = self.echo_weights(passages)
        scores = source_scores(q_ids, q_weights, p_ids, p_weights, self.s.negatives + 1)
        live = ((q_weights > 0).sum() / (q_ids != self.tokenizer.pad_token_id).sum()).item()
        return scores, q_weights.sum(dim=1).mean(), p_weights.sum(dim=1).mean(), live

    def loss(self, batch: Sequence[int]) -> tuple[torch.Tensor, dict[str, float]]:
        pivot, pivot_terms, q_terms, d_terms = self.pivot_part(batch)
        source, source_q, source_d, live = self.source_part(batch)
        student = pivot + source
        teacher = self.teacher_scores[batch]
        kl = kl_teacher_student(student * self.log_multiplier.exp(), teacher)
        pivot_weights = {"pivot_l1_q": self.s.pivot_l1_q, "pivot_l1_d": self.s.pivot_l1_d, "mass_shortfall": self.s.mass_floor}
        total = (kl + self.s.source_l1_q * source_q + self.s.source_l1_d * source_d
                 + sum(pivot_weights[name] * value for name, value in pivot_terms.items()))
        agree = (student.argmax(dim=1) == teacher.argmax(dim=1)).float().mean()
        return total, {"kl": kl.item(), "source_l1_q": source_q.item(), "source_l1_d": source_d.item(),
                       **{name: value.item() for name, value in pivot_terms.items()},
                       "pivot_q_terms": q_terms, "pivot_d_terms": d_terms, "agree": agree.item(),
                       "live_query_tokens": live, "scale": self.model.scale.item(),
                       "multiplier": self.log_multiplier.exp().item()}

    def step_loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss(self.order[step])

    @torch.no_grad()
    def after_update(self) -> None:
        """Logits under ``-logit_margin`` are not cached: with the connector frozen the bias may not
        rise past its ceiling (the cached pivot view would be wrong). With the connector trained,
        the logits are recomputed at the candidates and validation sees the whole vocabulary, so
        the bias is left free, as the shipped connector run trained it."""
        if not self.s.train_connector:
            self.bias.copy_(torch.minimum(self.bias, self.bias_ceiling))

    def postfix(self, parts: dict[str, float]) -> dict[str, str]:
        return {**super().postfix(parts), "scale": f"{parts['scale']:.2f}"}

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        """Development-set nDCG@10 / R@100 of the dual view (queries pruned as the stock search
        prunes them) and of the pivot view alone, and terms per text (both views, queries
        unpruned); keeps the best trainable tensors."""
        pivot_size = self.model.config.en_vocab_size
        dimension = pivot_size + self.model.config.m_vocab_size
        counts: dict[str, list[int]] = {"query": [], "passage": []}
        pivots: dict[tuple[str, str], SparseVector] = {}  # each text's pivot view, computed once

        def pivot_views(cached: Sequence[FrozenText], texts: Sequence[str], kind: str) -> list[SparseVector]:
            missing = [i for i, t in enumerate(texts) if (kind, t) not in pivots]
            for i, vector in zip(missing, self.pivot_vectors([cached[i] for i in missing])):
                pivots[kind, texts[i]] = vector
            return [pivots[kind, t] for t in texts]

        def encoder(with_source: bool):
            def encode(texts: Sequence[str], kind: str):
                cached = [self.dev_cache[kind][t] for t in texts]
                vectors = pivot_views(cached, texts, kind)
                if with_source:
                    _, weights = self.echo_weights(cached)
                    vectors = [SparseVector.concat([v, source_vector(t, w[:len(t.ids)], pivot_size)])
                               for v, t, w in zip(vectors, cached, weights)]
                    counts[kind] += [len(v) for v in vectors]
                if kind == "query" and self.s.dev_query_prune is not None:
                    vectors = [prune(v, self.s.dev_query_prune, pivot_size) for v in vectors]
                return sparse_rows(vectors, dimension)
            return encode

        metrics = evaluate_retriever(self.devset, encoder(True), self.s.dev_settings)
        if self.pivot_only is None or self.pivot_moves:
            self.pivot_only = evaluate_retriever(self.devset, encoder(False), self.s.dev_settings)["ndcg@10_mean"]
        metrics.update({"pivot_ndcg@10_mean": self.pivot_only,
                        "dev_query_terms": round(float(np.mean(counts["query"])), 1),
                        "dev_passage_terms": round(float(np.mean(counts["passage"])), 1)})
        if metrics["ndcg@10_mean"] > self.best["ndcg@10_mean"]:
            self.best = {"step": self.step, "ndcg@10_mean": metrics["ndcg@10_mean"]}
            torch.save({n: p.detach().clone() for n, p in self.trainable.items()}, self.s.out / BEST_FILE)
        return metrics

    def delta_metadata(self) -> dict[str, str]:
        """What the delta says of its run: the student, what trained, steps, the exported step, groups."""
        stage = "+".join(["echo", *(["bias"] if self.s.train_bias else []), *(["connector"] if self.s.train_connector else [])])
        return {"student": self.s.student, "stage": stage, "steps": str(self.s.steps),
                "best_step": str(self.best["step"]), "groups": str(len(self.groups))}

    def finish(self) -> dict:
        """Export the best validated echo tensors (else the last): the delta, then the merged model."""
        best = self.s.out / BEST_FILE
        if best.is_file():
            with torch.no_grad():
                for name, value in torch.load(best).items():
                    self.trainable[name].copy_(value)
        write_delta(self.s.out / DELTA_FILE, self.trainable, self.delta_metadata())
        save_checkpoint(self.model, self.tokenizer, self.en_tokens, self.s.out / "model")
        return {"delta": str(self.s.out / DELTA_FILE), "model": str(self.s.out / "model"), "best": self.best}
