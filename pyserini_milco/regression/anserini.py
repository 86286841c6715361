"""Anserini regression-style configs (``anserini_configs/*.yaml``) generated from a regression config.

Anserini's own regressions (``reproduce/from-document-collection/configs/`` in its jar) describe a
corpus of pre-encoded vectors (``JsonVectorCollection``, indexed ``-impact -pretokenized``), topic
sets of pre-encoded queries (``TsvString``: each term repeated by its weight), qrels, and models
with expected results, one list entry per topic set. The files here follow that schema, one per
language, so the numbers stay in one place: the regression config they are generated from (a test
checks that the committed files are up to date).

One index serves all models of :class:`~.config.AnseriniSpec`: they share an encoder and differ
only in how queries are encoded, each model being a topic set. For MILCO this is exact: the score is
a dot product that splits into pivot·pivot + source·source, so pivot-only queries against the
dual-view index score exactly what the pivot-only index gives.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ..atomic import atomic_output
from .config import Config, ConfigError


def _header(config: Config) -> str:
    source = config.path.resolve().relative_to(config.root)
    return "\n".join([
        f"# Generated from {source} by",
        f"#   python -m pyserini_milco.regression --config {source} --write-anserini-configs anserini_configs",
        "# Do not edit: change the regression config and regenerate. Expected results are on trec_eval's",
        "# 0-1 scale, one per topic set; null means not reported (no expectation). Each topic set holds the",
        "# queries encoded by one model; all run against the index of the encoded corpus (see",
        "# pyserini_milco/regression/anserini.py for why pivot-only queries need no index of their own).",
        "",
    ])


def _check_models(config: Config) -> None:
    spec = config.anserini
    encoders = {config.model(name).encoder for name in spec.models}
    if len(encoders) != 1:
        raise ConfigError(f"{config.path}: anserini.models use different encoders ({', '.join(sorted(encoders))}); "
                          "one Anserini config indexes one encoded corpus, so list models of one encoder")


def document(config: Config, lang: str) -> dict:
    """The Anserini config of ``lang`` as a mapping (keys in Anserini's order)."""
    spec = config.anserini
    models = [config.model(name) for name in spec.models]
    corpus = spec.name.format(lang=lang)
    encoder = models[0].encoder
    return {
        "corpus": corpus,
        "corpus_path": f"collections/{corpus}",
        "index_path": f"indexes/lucene-inverted.{corpus}/",
        "collection_class": "JsonVectorCollection",
        "generator_class": "DefaultLuceneDocumentGenerator",
        "index_threads": 16,
        "index_options": "-impact -pretokenized",
        "metrics": [{"metric": metric, "command": "bin/trec_eval", "params": f"-c -m {measure}", "separator": "\t",
                     "parse_index": 2, "metric_precision": 4, "can_combine": False}
                    for metric, measure in config.metrics.items()],
        "topic_reader": "TsvString",
        "topics": [{"name": f"{config.title} ({lang}): {model.display} queries",
                    "id": model.name,
                    "path": spec.topics.format(lang=lang, model=model.name),
                    "qrel": spec.qrels.format(lang=lang)} for model in models],
        "models": [{"name": encoder.rsplit("/", 1)[-1], "display": f"{encoder} (impact, pre-encoded queries)",
                    "params": "-impact -pretokenized -hits 1000",
                    "results": {metric: [_rounded(model.expected[metric].expected(lang)) for model in models]
                                for metric in config.metrics}}],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def render(config: Config) -> dict[str, str]:
    """``{file name: text}`` of every Anserini config ``config`` asks for (none without an ``anserini`` key)."""
    if config.anserini is None:
        return {}
    _check_models(config)
    header = _header(config)
    return {f"{config.anserini.name.format(lang=lang)}.yaml":
            header + yaml.safe_dump(document(config, lang), sort_keys=False, allow_unicode=True, width=120)
            for lang in config.languages}


def write(config: Config, out_dir: str | Path) -> list[Path]:
    """Write the configs of ``config`` into ``out_dir``; return their paths."""
    written = []
    for name, text in render(config).items():
        path = Path(out_dir) / name
        with atomic_output(path) as handle:
            handle.write(text)
        written.append(path)
    return written
