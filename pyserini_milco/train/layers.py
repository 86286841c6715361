"""Stage 2 through the encoder's upper layers, on a CPU: ``train echo``'s loss with the top
``upper_layers`` backbone layers trained too, above cached states of the frozen lower layers.

Why: ``train echo --train-connector`` trains everything above the frozen backbone, so every token
representation stays e5-small's; the joint ``train distill`` runs (adapters on layers 6–11) cost
6–8 s a step on this machine and stopped at 5% of an epoch. Most of a full step is the forward pass
through the lower layers, which do not train when only the top ``k`` layers do. So each distinct
text runs once through the frozen model: its states at the input of layer ``n - k`` are cached (as
float16, to halve the memory) with its candidate terms (the decoder logits above ``-logit_margin``
under the starting model, as ``train echo`` caches them). A step runs only the top ``k`` layers
(without padding, :mod:`pyserini_milco.modeling.unpadded`, whose layer arithmetic is
differentiable) over the batch's cached states, then ``train echo``'s candidate pivot view and
LexEcho head over their output, with the same loss: KL against the groups' teacher scores, pivot
L1, a frozen multiplier.

The candidate terms are fixed at the start; as the layers move, a term outside them counts as zero
in training (validation scores the whole vocabulary, as encoding does), so the margin is wider than
``train echo``'s default. LexEcho starts from the student's heads (``uniform_init`` off); the share
of development tokens with a non-zero LexEcho weight is logged at each validation, and if it falls
under half its starting value the LexEcho learning rate is cut tenfold (once).

Checkpoints are chosen on the development set pooled over its variants (``dev`` plus
``dev_variants``, each scored against its own pool, the mean weighted by queries); each validation
logs the dense teacher (e5-small) on the same set beside it. The development runs of the start and
of the exported checkpoint are written (``OUT/dev-runs/``) and compared by a paired bootstrap over
the held-out passages (``OUT/dev-compare.md``): the figure that says whether a run ships. The
lower-layer cache is written to ``OUT/lower-cache.pt`` once, so a resumed run does not recompute it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import atomic_output
from ..encoding.encoder import pad_sequences
from ..encoding.terms import SparseVector
from ..modeling import unpadded
from ..modeling.model import MilcoModel
from ..encoding.pruning import prune
from ..evaluation.metrics import write_qrels, write_run
from ..evaluation.significance import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, compare_table
from .devset import DEV_ITEM_PATTERN, DevSet, evaluate_retriever, load_devset, setting_runs
from .distill import sparse_rows
from .echo import (BEST_FILE, CONNECTOR_PREFIXES, DECODER_BIAS, EchoSettings, EchoTrainer, FrozenText,
                   candidate_pivot_rows, recomputed_pivot_vectors, source_vector)
from .settings_cli import Spelling, setting, two_words

CACHE_FILE = "lower-cache.pt"
#: the development runs of the start and of the exported checkpoint (``OUT/dev-runs/start|best``), and their comparison
DEV_RUNS, DEV_COMPARE = "dev-runs", "dev-compare.md"
#: cut LexEcho's learning rate when the share of live development tokens falls under this part of its start
ECHO_COLLAPSE = 0.5
LAYER_PREFIX = "m_model.encoder.layer."
#: folders as ``a,b`` on the command line
PATH_LIST = Spelling(lambda paths: ",".join(map(str, paths)), lambda text: [Path(p) for p in text.split(",") if p])


@dataclasses.dataclass(kw_only=True)
class LayerSettings(EchoSettings):
    """``train layers``'s settings: ``train echo``'s, with the bias and the connector trained, the
    student's heads kept and the loss's multiplier frozen, plus the upper layers trained."""

    upper_layers: int = setting(2, help="backbone layers trained, counted from the top; the states below them are "
                                        "cached once per text")
    layer_lr: float = setting(5e-5, help="peak learning rate of the upper layers")
    lr: float = 1e-3
    bias_lr: float = 1e-3
    connector_lr: float = 1e-4
    logit_margin: float = 1.0
    train_bias: bool = setting(True, spelling=two_words("on", "off"), help="also train the English decoder's bias")
    train_connector: bool = setting(True, spelling=two_words("on", "off"),
                                    help="also train the connector and the English head's transform")
    train_multiplier: bool = setting(False, flag="--train-multiplier", spelling=two_words("on", "off"),
                                     help="train the loss's multiplier on the student's scores (off: kept at its "
                                          "teacher-matched start; trained, it lets the connector shrink every logit)")
    uniform_init: bool = setting(False, flag="--init", spelling=two_words("uniform", "keep"),
                                 help="uniform: restart LexEcho uniform; keep: the checkpoint's heads")
    dev_variants: list[Path] = setting(factory=list, spelling=PATH_LIST,
                                       help="more development sets pooled with --dev to choose checkpoints (e.g. the "
                                            "`train devset --query-sentence 1` and `3` variants), comma-separated")
    dev_teacher: bool = setting(True, spelling=two_words("on", "off"),
                                help="score the dense teacher (multilingual-e5-small) on the development set once, "
                                     "logged beside every validation")
    dev_runs: bool = setting(True, spelling=two_words("on", "off"),
                             help="write the development runs of the start (OUT/dev-runs/start) and of the exported "
                                  "checkpoint (OUT/dev-runs/best), and compare them by a paired bootstrap over the "
                                  "held-out passages (OUT/dev-compare.md): whether the run beats its start beyond noise")
    cache_dtype: str = setting("float16", choices=("float16", "bfloat16", "float32"),
                               help="dtype of the cached lower-layer states (float16 halves the memory)")


def upper_layer_names(model: MilcoModel, upper_layers: int) -> tuple[int, list[str]]:
    """The first trained layer's index and the name prefixes of the trained layers."""
    layers = len(model.m_model.encoder.layer)
    if not 1 <= upper_layers <= layers:
        raise ValueError(f"upper_layers {upper_layers}: the backbone has {layers} layers")
    first = layers - upper_layers
    return first, [f"{LAYER_PREFIX}{i}." for i in range(first, layers)]


def run_layers(model: MilcoModel, states: torch.Tensor, lengths: Sequence[int], layers: range) -> torch.Tensor:
    """Token states ``[N, H]`` (texts concatenated, ``lengths`` tokens each) through backbone
    ``layers``, without padding; differentiable when gradients are on."""
    block = unpadded.block_tokens(model.m_model)
    for index in layers:
        states = unpadded.layer_forward(model.m_model.encoder.layer[index], states, lengths, block)
    return states


@torch.no_grad()
def freeze_lower(model: MilcoModel, tokenizer, texts: Sequence[str], max_length: int, first_upper: int, desc: str,
                 margin: float, dtype: torch.dtype = torch.float16, batch_size: int = 32,
                 candidates: bool = True) -> dict[str, FrozenText]:
    """Every distinct text of ``texts``: its token ids, its states at the input of layer
    ``first_upper`` (in ``dtype``) and its candidate terms under the whole model (decoder logits
    without the bias, where the logit with the bias is above ``-margin``). Development texts need
    no candidates (validation scores the whole vocabulary): ``candidates=False`` skips the upper
    layers and the head, and leaves them empty."""
    unique = sorted(set(texts), key=len)
    depth = len(model.m_model.encoder.layer)
    cache: dict[str, FrozenText] = {}
    for start in tqdm(range(0, len(unique), batch_size), desc=desc, unit="batch"):
        chunk = unique[start:start + batch_size]
        ids = tokenizer(chunk, truncation=True, max_length=max_length)["input_ids"]
        batch, mask = pad_sequences(ids, tokenizer.pad_token_id)
        lengths = mask.sum(dim=1).tolist()
        lower = run_layers(model, model.m_model.embeddings(input_ids=batch)[mask.bool()], lengths, range(first_upper))
        bias = model.mlm_head.predictions.bias
        if candidates:
            logits = model.token_max_logits(run_layers(model, lower, lengths, range(first_upper, depth)), lengths, relu=False)
            kept = [(vector > -margin).nonzero().squeeze(1) for vector in logits]
            terms = [SparseVector(k.numpy().astype(np.int64), (v - bias)[k].numpy()) for k, v in zip(kept, logits)]
        else:
            terms = [SparseVector(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))] * len(chunk)
        for text, row, text_states, vector in zip(chunk, ids, lower.split(lengths), terms):
            cache[text] = FrozenText(torch.tensor(row), text_states.to(dtype), vector)
    return cache


def lift(model: MilcoModel, texts: Sequence[FrozenText], layers: range) -> list[FrozenText]:
    """Cached lower-layer texts with their states carried through ``layers`` (float32; with
    gradients when they are on), candidates unchanged."""
    lengths = [len(t.ids) for t in texts]
    states = run_layers(model, torch.cat([t.states.float() for t in texts]), lengths, layers)
    return [FrozenText(t.ids, s, t.logits) for t, s in zip(texts, states.split(lengths))]


@torch.no_grad()
def teacher_devset_scores(devsets: Sequence[DevSet], settings: Sequence[str]) -> list[dict[str, float]]:
    """The dense teacher (multilingual-e5-small) on each development set: what every figure is read against."""
    from ..mini.e5 import E5Embedder

    embedder = E5Embedder()
    return [evaluate_retriever(devset, lambda texts, kind: embedder.embed(texts, kind), settings) for devset in devsets]


def pooled(metrics: Sequence[dict[str, float]], weights: Sequence[int]) -> dict[str, float]:
    """Each numeric figure's mean over the variants, weighted by their queries (a per-query mean)."""
    total = sum(weights)
    return {key: round(sum(m[key] * w for m, w in zip(metrics, weights)) / total, 4) for key in metrics[0]}


class LayerTrainer(EchoTrainer):
    """:class:`EchoTrainer` whose texts are cached below the top ``upper_layers`` layers, which train."""

    desc = "layers"

    def __init__(self, settings: LayerSettings):
        self._live: tuple | None = None
        self.echo_live_start: float | None = None
        super().__init__(settings)
        self.teacher_dev = (teacher_devset_scores(self.devsets, settings.dev_settings)
                            if settings.dev_teacher and self.devsets else [])

    @property
    def upper(self) -> range:
        """The trained layers' indices."""
        first, _ = upper_layer_names(self.model, self.s.upper_layers)
        return range(first, len(self.model.m_model.encoder.layer))

    def trainable_prefixes(self) -> tuple[str, ...]:
        return (*super().trainable_prefixes(), *upper_layer_names(self.model, self.s.upper_layers)[1])

    def pivot_trains(self) -> bool:
        return True

    def freeze_caches(self) -> None:
        """The cached lower-layer states of the training texts and of every development variant."""
        self.devsets = [self.devset, *map(load_devset, self.s.dev_variants)] if self.devset else []
        self.queries, self.passages, self.dev_caches = self.load_or_freeze(self.upper.start)
        self.dev_cache: dict[str, dict[str, FrozenText]] = {}

    def load_or_freeze(self, first: int) -> tuple[dict, dict, list[dict]]:
        """The training and development caches: read from ``OUT/lower-cache.pt`` when it was made
        for these settings, else computed (every distinct text once) and written there atomically."""
        path = self.s.out / CACHE_FILE
        key = {"student": self.s.student, "first_upper": first, "margin": self.s.logit_margin, "groups": len(self.groups),
               "train": str(self.s.train), "seed": self.s.seed, "dtype": self.s.cache_dtype,
               "dev": [str(d.folder) for d in self.devsets], "lengths": [self.s.query_max_length, self.s.passage_max_length]}
        if path.is_file():
            saved = torch.load(path, weights_only=False)
            if saved["key"] == key:
                tqdm.write(f"lower-layer cache read from {path}")
                return saved["queries"], saved["passages"], saved["dev"]
        dtype = getattr(torch, self.s.cache_dtype)

        def freeze(texts: Sequence[str], max_length: int, desc: str, candidates: bool = True) -> dict[str, FrozenText]:
            return freeze_lower(self.model, self.tokenizer, texts, max_length, first, desc, self.s.logit_margin, dtype,
                                candidates=candidates)

        queries = freeze([g.query for g in self.groups], self.s.query_max_length, "freeze queries")
        passages = freeze([p for g in self.groups for p in g.passages], self.s.passage_max_length, "freeze passages")
        dev = []
        for devset in self.devsets:
            query_texts, pool_texts = self.dev_texts(devset)
            dev.append({"query": freeze(query_texts, self.s.query_max_length, "freeze dev queries", False),
                        "passage": freeze(pool_texts, self.s.passage_max_length, "freeze dev passages", False)})
        with atomic_output(path, "wb") as handle:
            torch.save({"key": key, "queries": queries, "passages": passages, "dev": dev}, handle)
        return queries, passages, dev

    def parameter_groups(self) -> list[dict]:
        """The optimizer's groups with their peak learning rates: the upper layers, the decoder
        bias, the connector and head transform, and LexEcho."""
        peaks = {"layers": self.s.layer_lr, "bias": self.s.bias_lr, "connector": self.s.connector_lr, "echo": self.s.lr}
        params: dict[str, list[torch.Tensor]] = {kind: [] for kind in peaks}
        for name, param in self.state.items():
            if param.requires_grad:
                params[self.kind(name)].append(param)
        return [{"params": params[kind], "peak": peak, "kind": kind} for kind, peak in peaks.items() if params[kind]]

    @staticmethod
    def kind(name: str) -> str:
        if name.startswith(LAYER_PREFIX):
            return "layers"
        if name == DECODER_BIAS:
            return "bias"
        return "connector" if name.startswith(CONNECTOR_PREFIXES) else "echo"

    def pivot_rows(self, texts: Sequence[FrozenText]) -> torch.Tensor:
        """The pivot view at the candidates, from the lifted states (the layers move it whatever else trains)."""
        return candidate_pivot_rows(self.model, texts, self.tokenizer.pad_token_id)

    def pivot_vectors(self, texts: Sequence[FrozenText]) -> list[SparseVector]:
        return recomputed_pivot_vectors(self.model, texts)

    def delta_metadata(self) -> dict[str, str]:
        metadata = super().delta_metadata()
        return {**metadata, "stage": metadata["stage"] + "+layers", "upper_layers": str(self.s.upper_layers)}

    def batch_texts(self, batch: Sequence[int]) -> tuple[list[FrozenText], list[FrozenText]]:
        """The batch's texts through the upper layers, computed once per step (the pivot and source
        parts of the loss share them)."""
        key = tuple(batch)
        if self._live is None or self._live[0] != key:
            queries, passages = super().batch_texts(batch)
            live = lift(self.model, queries + passages, self.upper)
            self._live = (key, live[:len(queries)], live[len(queries):])
        return self._live[1], self._live[2]

    def step_loss(self, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        self._live = None
        return super().step_loss(step)

    def after_update(self) -> None:
        """The bias stays free (the logits are recomputed at the candidates, and validation sees
        the whole vocabulary); the step's lifted texts are dropped."""
        self._live = None

    @torch.no_grad()
    def lifted_cache(self, cache: dict[str, dict[str, FrozenText]], chunk: int = 64) -> dict[str, dict[str, FrozenText]]:
        """A development cache carried through the current upper layers, ``chunk`` texts at a time."""
        out: dict[str, dict[str, FrozenText]] = {}
        for kind, texts in cache.items():
            keys = list(texts)
            out[kind] = {}
            for start in range(0, len(keys), chunk):
                part = keys[start:start + chunk]
                out[kind].update(zip(part, lift(self.model, [texts[k] for k in part], self.upper)))
        return out

    def echo_live_share(self) -> float:
        """Share of development tokens (queries and passages) with a non-zero LexEcho weight."""
        live = total = 0
        for texts in self.dev_cache.values():
            for chunk in np.array_split(np.array(list(texts.values()), dtype=object), max(1, len(texts) // 256)):
                _, weights = self.echo_weights(list(chunk))
                live += int((weights > 0).sum())
                total += sum(len(t.ids) for t in chunk)
        return live / max(1, total)

    @torch.no_grad()
    def candidate_miss(self, sample: int = 64) -> float:
        """Share of the pivot weight of ``sample`` training passages (over the whole vocabulary,
        under the current model) that falls outside their cached candidate terms: what training
        no longer sees as the layers move (0 at the start; if it grows, widen ``logit_margin``)."""
        texts = [self.passages[key] for key in sorted(self.passages)[:sample]]
        missed = total = 0.0
        for text, vector in zip(texts, self.pivot_vectors(lift(self.model, texts, self.upper))):
            outside = ~np.isin(vector.indices, text.logits.indices)
            missed += float(vector.values[outside].sum())
            total += float(vector.values.sum())
        return missed / max(total, 1e-12)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """``train echo``'s validation on each development variant, pooled (weighted by queries),
        beside the dense teacher; keeps the best trainable tensors by the pooled nDCG@10; watches
        LexEcho."""
        best, self.best = self.best, {"step": None, "ndcg@10_mean": float("inf")}  # each variant: no saving
        variants, shares, counts = [], [], []
        for devset, cache in zip(self.devsets, self.dev_caches):
            self.devset, self.dev_cache, self.pivot_only = devset, self.lifted_cache(cache), None
            variants.append(super().validate())
            shares.append(self.echo_live_share())
            counts.append(len(devset.qrels))
        self.best, self.devset, self.dev_cache = best, self.devsets[0], {}
        metrics = pooled(variants, counts)
        metrics["echo_live_tokens"] = round(float(np.average(shares, weights=counts)), 4)
        metrics["candidate_miss"] = round(self.candidate_miss(), 5)
        if self.teacher_dev:
            teacher = pooled(self.teacher_dev, counts)
            metrics.update({"teacher_ndcg@10_mean": teacher["ndcg@10_mean"], "teacher_recall@100_mean": teacher["recall@100_mean"]})
        if len(variants) > 1:
            metrics["first_variant_ndcg@10_mean"] = variants[0]["ndcg@10_mean"]
        self.watch_echo(metrics["echo_live_tokens"])
        if self.step == 0 and self.s.dev_runs:
            self.write_dev_runs(self.s.out / DEV_RUNS / "start")
        if metrics["ndcg@10_mean"] > self.best["ndcg@10_mean"]:
            self.best = {"step": self.step, "ndcg@10_mean": metrics["ndcg@10_mean"]}
            torch.save({n: p.detach().clone() for n, p in self.trainable.items()}, self.s.out / BEST_FILE)
        return metrics

    def watch_echo(self, share: float) -> None:
        """Cut LexEcho's learning rate tenfold (once) when its live tokens fall under
        :data:`ECHO_COLLAPSE` of the share at the first validation."""
        if self.echo_live_start is None:
            self.echo_live_start = share
            return
        for group in self.optimizer.param_groups:
            if group["kind"] == "echo" and share < ECHO_COLLAPSE * self.echo_live_start and not group.get("cut"):
                group["peak"], group["cut"] = group["peak"] / 10, True
                tqdm.write(f"LexEcho: {share:.3f} of the tokens live (start {self.echo_live_start:.3f}): its learning rate cut tenfold")

    def finish(self) -> dict:
        """``train echo``'s export, then (``dev_runs``) the exported checkpoint's development runs
        compared with the start's: the table is written to ``OUT/dev-compare.md`` and returned."""
        result = super().finish()
        start = self.s.out / DEV_RUNS / "start"
        if self.s.dev_runs and self.devsets and (start / "run.txt").is_file():
            best = self.write_dev_runs(self.s.out / DEV_RUNS / "best")
            table = compare_table(str(best["qrels"]), [str(start / "run.txt"), str(best["run"])], "ndcg_cut.10",
                                  DEFAULT_RESAMPLES, DEFAULT_CONFIDENCE, 0, DEV_ITEM_PATTERN)
            with atomic_output(self.s.out / DEV_COMPARE, "w") as handle:
                handle.write(table + "\n")
            tqdm.write(table)
            result["dev_compare"] = table
        return result

    @torch.no_grad()
    def write_dev_runs(self, folder: Path, depth: int = 100) -> dict[str, Path]:
        """The current model's runs on every development variant and setting, as one TREC run and
        its qrels (query ids ``<setting>:<qid>``), for ``python -m pyserini_milco.compare``: scored as
        validation scores them (dual view, queries pruned as the stock search prunes them)."""
        pivot_size = self.model.config.en_vocab_size
        dimension = pivot_size + self.model.config.m_vocab_size
        run, qrels = {}, {}
        for devset, cache in zip(self.devsets, self.dev_caches):
            self.dev_cache = self.lifted_cache(cache)

            def rows(texts: Sequence[str], kind: str):
                cached = [self.dev_cache[kind][t] for t in texts]
                _, weights = self.echo_weights(cached)
                vectors = [SparseVector.concat([v, source_vector(t, w[:len(t.ids)], pivot_size)])
                           for v, t, w in zip(self.pivot_vectors(cached), cached, weights)]
                if kind == "query" and self.s.dev_query_prune is not None:
                    vectors = [prune(v, self.s.dev_query_prune, pivot_size) for v in vectors]
                return sparse_rows(vectors, dimension)

            for setting, qids, hits in setting_runs(devset, rows, self.s.dev_settings, depth):
                run.update({f"{setting}:{qid}": docs for qid, docs in hits.items()})
                qrels.update({f"{setting}:{qid}": devset.qrels[qid] for qid in qids})
        self.dev_cache = {}
        folder.mkdir(parents=True, exist_ok=True)
        write_run(run, folder / "run.txt")
        write_qrels(qrels, folder / "qrels.txt")
        return {"run": folder / "run.txt", "qrels": folder / "qrels.txt"}
