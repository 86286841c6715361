"""Regression configs (``regressions/*.yaml``): schema, loading and validation.

A config describes one benchmark, in the spirit of Pyserini's ``2cr/miracl.yaml``: its languages,
its metrics (``trec_eval`` measures), the commands that turn a corpus into a run and a score, and
models, each with its expected scores per language. A (model, language) pair is one *condition*.

Top-level keys (``*`` = required)::

    name*, title*, description*   identity and the text shown in reports
    languages*                    language codes, in table order (quote 'no': YAML reads no as false)
    metrics*                      {display name: trec_eval measure}, e.g. {nDCG@10: ndcg_cut.10}
    tolerance*                    absolute difference, on trec_eval's 0-1 scale, still accepted
    sources*                      {key: {cite, unit: percent|fraction, digits}}: where numbers come from
    models*                       see below
    paths*                        {variable: template}; must define corpus, topics and qrels
    settings                      overrides of DEFAULT_SETTINGS (batch_size, max_length, ...)
    env                           environment of every command, e.g. PYSERINI_MILCO_LOWERCASE: "on"
    pipeline                      step names in order (default: encode, index, search, eval)
    steps                         {name: {command, creates, hub, requires, help, env}}: new or overridden steps
    topics                        {dataset, files}: files staged into Pyserini's topics-and-qrels cache
    anserini                      {name, topics, qrels, models}: Anserini-style configs to generate

A model::

    name*, display*               name: [a-z0-9.-]+ (used in file names); display: table label
    expected*                     {metric: block} for every metric, see Expectation
    run                           false for baselines that are reported, not run (default true)
    encoder                       --encoder of encode and search (required when run)
    env, args, pipeline, steps    per-model environment, extra flags per step ({encode: "..."}),
                                  steps to run, and step overrides
    note                          shown in reports

An expectation block (one model, one metric)::

    status*    reported (from a publication) | recorded (from an actual run of this pipeline)
               | not reported | pending (to be recorded from a real run)
    source     key into sources (required for reported / recorded)
    values     {language: number or null} for every language (null = not reported for it)
    average    the source's own average, when it gives one
    values_from {pyserini_2cr: FILE, condition: "bm25.{lang}", split: dev}: read the numbers
               from Pyserini's installed 2CR file instead of copying them (one source of truth)

Templates use ``{variable}`` placeholders: :data:`BUILTIN_VARIABLES`, the settings, and the paths
(a path may use the paths defined before it). Relative paths in a config are relative to the
project root (the folder that holds ``regressions/``).
"""
from __future__ import annotations

import importlib.resources
import math
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import MilcoError
from ..evaluation.datasets import SOURCES

STATUSES = ("reported", "recorded", "not reported", "pending")
WITH_VALUES = ("reported", "recorded")
UNITS = {"percent": 100.0, "fraction": 1.0}
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]*$")

#: Variables every template may use; the runner fills them per condition.
BUILTIN_VARIABLES = ("lang", "model", "encoder", "config", "work_dir", "corpus_dir", "topics_dir", "metric_flags")

DEFAULT_SETTINGS: dict[str, str] = {
    "batch_size": "32",
    "max_length": "512",
    "device": "cpu",
    "threads": "4",
    "fields": "title text",
}

DEFAULT_PATHS: dict[str, str] = {
    "encoded": "{work_dir}/encoded/{model}/{lang}",
    "index": "{work_dir}/indexes/{model}/{lang}",
    "run": "{work_dir}/runs/run.{config}.{model}.{lang}.txt",
    "evaluation": "{work_dir}/eval/{model}.{lang}.txt",
}
REQUIRED_PATHS = ("corpus", "topics", "qrels")

DEFAULT_PIPELINE = ("encode", "index", "search", "eval")


@dataclass(frozen=True)
class Step:
    """One command of the pipeline.

    ``creates``: the path the step produces; the step is skipped when it exists (and the partial
    output of a failed attempt is removed). ``log``: where its output goes (the eval step's log is
    the evaluation the scores are read from). ``hub``: repositories it downloads from (so a missing
    output offline is reported before anything runs). ``requires``: paths that must exist before it
    runs. ``help``: what ``creates`` holds, for the message when it is missing. ``env``: environment
    of this step only, over the config's and the model's (a model whose pipeline runs two modes of
    one encoder, e.g. BGE-M3's dense and sparse encoding, sets the mode per step).
    """

    name: str
    command: str
    creates: str | None = None
    log: str | None = None
    hub: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    help: str = ""
    env: dict[str, str] = field(default_factory=dict)


#: The stock Pyserini commands (see the project's issue on regressions); configs add or override steps.
#: ``--fields`` goes to ``encoder`` as well as to ``input``: ``pyserini.encode`` hands the encoder only the
#: fields its own ``--fields`` names (default ``text``), so without it a title never reaches the model.
STOCK_STEPS: dict[str, Step] = {
    "encode": Step(
        "encode",
        "python -m pyserini.encode input --corpus {corpus} --fields {fields} output --embeddings {encoded} "
        "encoder --encoder {encoder} --fields {fields} --batch-size {batch_size} --max-length {max_length} "
        "--device {device}",
        creates="{encoded}",
    ),
    "index": Step(
        "index",
        "python -m pyserini.index.lucene --collection JsonVectorCollection --input {encoded} --index {index} "
        "--generator DefaultLuceneDocumentGenerator --threads {threads} --impact --pretokenized",
        creates="{index}",
    ),
    "search": Step(
        "search",
        "python -m pyserini.search.lucene --index {index} --topics {topics} --output {run} --hits 1000 --impact "
        "--encoder {encoder} --min-idf -1 --batch-size 32 --threads {threads}",
        creates="{run}",
    ),
    "eval": Step("eval", "python -m pyserini.eval.trec_eval -c {metric_flags} {qrels} {run}", log="{evaluation}"),
}


@dataclass(frozen=True)
class Source:
    """Where reported numbers come from, and how they were printed there."""

    key: str
    cite: str
    unit: str
    digits: int

    @property
    def scale(self) -> float:
        """Factor from the printed unit to trec_eval's 0-1 scale (100 for percent)."""
        return UNITS[self.unit]

    @property
    def half_unit(self) -> float:
        """Half of the last printed digit, on the 0-1 scale: any closer score prints the same."""
        return 0.5 * 10.0 ** -self.digits / self.scale


@dataclass(frozen=True)
class Expectation:
    """One model's expected values for one metric, on trec_eval's 0-1 scale."""

    status: str
    source: Source | None
    values: dict[str, float | None]
    average: float | None = None

    def expected(self, lang: str) -> float | None:
        """The expected value for ``lang``; None means no expectation."""
        return self.values.get(lang)


@dataclass(frozen=True)
class Model:
    """A model (or baseline) evaluated on every language of its config."""

    name: str
    display: str
    expected: dict[str, Expectation]
    run: bool = True
    encoder: str = ""
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    pipeline: tuple[str, ...] | None = None
    steps: dict[str, Step] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class TopicsSpec:
    """Named topics and qrels that Pyserini reads from its cache, staged there from ``--topics-dir``.

    ``dataset``: the :mod:`pyserini_milco.datasets` name that fetches the folder (its default
    location is the default ``--topics-dir``).
    """

    dataset: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class AnseriniSpec:
    """Anserini regression-style configs to generate: one per language; the models share one index and differ
    in their (pre-encoded) queries, see :mod:`.anserini`."""

    name: str
    topics: str
    qrels: str
    models: tuple[str, ...]


@dataclass(frozen=True)
class Config:
    """A validated regression config."""

    path: Path
    name: str
    title: str
    description: str
    languages: tuple[str, ...]
    metrics: dict[str, str]
    tolerance: float
    sources: dict[str, Source]
    models: tuple[Model, ...]
    paths: dict[str, str]
    settings: dict[str, str]
    env: dict[str, str]
    pipeline: tuple[str, ...]
    steps: dict[str, Step]
    topics: TopicsSpec | None = None
    anserini: AnseriniSpec | None = None

    @property
    def root(self) -> Path:
        """The project root: relative paths in the config are relative to it."""
        return self.path.resolve().parent.parent

    def model(self, name: str) -> Model:
        """The model called ``name``, or an error listing the models."""
        for model in self.models:
            if model.name == name:
                return model
        raise ConfigError(f"{self.path}: no model {name!r}; models: {', '.join(m.name for m in self.models)}")

    def pipeline_of(self, model: Model) -> tuple[Step, ...]:
        """The steps ``model`` runs, in order, with its overrides applied."""
        return tuple(model.steps.get(name) or self.steps[name] for name in (model.pipeline or self.pipeline))


class ConfigError(MilcoError, ValueError):
    """A config that cannot be used; the message names the file, the key and the fix."""


class _Reader:
    """Reads typed values out of nested YAML mappings, naming the file and key path on error."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {where}: {problem}")

    def get(self, mapping: dict, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
        """``mapping[key]`` checked against ``kind``; a missing key gives ``default`` or an error."""
        here = f"{where}.{key}" if where else key
        if key not in mapping:
            if default is ...:
                raise self.fail(here, "missing; add it (see pyserini_milco/regression/config.py for the schema)")
            return default
        value = mapping[key]
        if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
            raise self.fail(here, f"expected {_kind_name(kind)}, found {value!r}{_yaml_hint(value)}")
        return value

    def strings(self, mapping: dict, key: str, where: str, default: Any = ...) -> dict[str, str]:
        """A mapping of strings to strings (numbers are accepted and turned into strings)."""
        raw = self.get(mapping, key, dict, where, default)
        if raw is default:
            return raw
        out = {}
        for name, value in raw.items():
            if not isinstance(name, str) or not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise self.fail(f"{where}.{key}.{name}" if where else f"{key}.{name}",
                                f"expected text, found {value!r}{_yaml_hint(value)}{_yaml_hint(name)}")
            out[name] = str(value)
        return out

    def string_list(self, mapping: dict, key: str, where: str, default: Any = ...) -> tuple[str, ...]:
        """A list of strings, as a tuple."""
        raw = self.get(mapping, key, list, where, default)
        if raw is default:
            return default
        bad = [item for item in raw if not isinstance(item, str)]
        if bad:
            raise self.fail(f"{where}.{key}" if where else key,
                            f"expected text items, found {bad[0]!r}{_yaml_hint(bad[0])}")
        return tuple(raw)

    def only(self, mapping: dict, allowed: tuple[str, ...], where: str) -> None:
        """Reject unknown keys (a typo would otherwise be ignored silently)."""
        unknown = sorted(str(key) for key in mapping if key not in allowed)
        if unknown:
            raise self.fail(where or "top level", f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "an integer", float: "a number", dict: "a mapping", list: "a list", bool: "true/false"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))


def _yaml_hint(value: Any) -> str:
    """YAML 1.1 reads no/yes/on/off as booleans: say so when a boolean shows up where text belongs."""
    return " (YAML reads no/yes/on/off as true/false: quote it, e.g. 'no')" if isinstance(value, bool) else ""


def placeholders(template: str) -> set[str]:
    """The ``{names}`` a template uses."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def _check_template(reader: _Reader, template: str, known: set[str], where: str) -> None:
    """Every placeholder must be a known variable, or rendering would fail mid-run."""
    unknown = sorted(placeholders(template) - known)
    if unknown:
        raise reader.fail(where, f"unknown placeholder(s) {', '.join('{' + u + '}' for u in unknown)} in "
                                 f"{template!r}; known: {', '.join(sorted(known))}")


def _check_command(reader: _Reader, command: str, known: set[str], where: str) -> None:
    """Commands run as ``python -m MODULE`` (through :mod:`pyserini_milco.integration.pyserini_cli`,
    so Java is set up)."""
    if not command.startswith("python -m "):
        raise reader.fail(where, f"{command!r} must start with 'python -m MODULE': the runner starts Python modules "
                                 "with Java 21 configured")
    _check_template(reader, command, known, where)


def _languages(reader: _Reader, raw: dict) -> tuple[str, ...]:
    languages = reader.get(raw, "languages", list, "")
    for index, lang in enumerate(languages):
        if not isinstance(lang, str) or not lang:
            raise reader.fail(f"languages[{index}]", f"expected a language code, found {lang!r}{_yaml_hint(lang)}")
    duplicates = sorted({lang for lang in languages if languages.count(lang) > 1})
    if duplicates:
        raise reader.fail("languages", f"listed twice: {', '.join(duplicates)}")
    return tuple(languages)


def _metrics(reader: _Reader, raw: dict) -> dict[str, str]:
    """{display name: trec_eval measure}; one measure per family, as trec_eval keeps only the last ``-m`` of one."""
    metrics = reader.strings(raw, "metrics", "")
    families = [measure.partition(".")[0] for measure in metrics.values()]
    repeated = sorted({f for f in families if families.count(f) > 1})
    if repeated or not metrics:
        raise reader.fail("metrics", f"give at least one metric and one measure per trec_eval family "
                                     f"({', '.join(repeated) or 'none given'}): trec_eval keeps only the last -m "
                                     "of a family")
    return metrics


def _sources(reader: _Reader, raw: dict) -> dict[str, Source]:
    sources = {}
    for key, spec in reader.get(raw, "sources", dict, "").items():
        where = f"sources.{key}"
        if not isinstance(spec, dict):
            raise reader.fail(where, "expected a mapping with cite, unit and digits")
        reader.only(spec, ("cite", "unit", "digits"), where)
        unit = reader.get(spec, "unit", str, where)
        if unit not in UNITS:
            raise reader.fail(f"{where}.unit", f"{unit!r} is not one of {', '.join(UNITS)}")
        sources[key] = Source(key, reader.get(spec, "cite", str, where), unit, reader.get(spec, "digits", int, where))
    return sources


def _number(reader: _Reader, value: Any, source: Source | None, where: str) -> float | None:
    """A printed number converted to the 0-1 scale; None stays None."""
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise reader.fail(where, f"expected a number or null, found {value!r}{_yaml_hint(value)}")
    if source is None:
        raise reader.fail(where, "a value needs a source; add 'source: KEY' (a key of sources)")
    if not 0 <= value <= source.scale:
        raise reader.fail(where, f"{value} is outside 0..{source.scale:g} "
                                 f"({source.unit}, as source {source.key!r} says)")
    return value / source.scale


def _values_from_2cr(reader: _Reader, spec: dict, metric: str, languages: tuple[str, ...], where: str
                     ) -> dict[str, float | None]:
    """Expected values read from Pyserini's installed 2CR file (``pyserini/2cr/FILE``)."""
    reader.only(spec, ("pyserini_2cr", "condition", "split"), where)
    name = reader.get(spec, "pyserini_2cr", str, where)
    pattern = reader.get(spec, "condition", str, where)
    split = reader.get(spec, "split", str, where)
    try:
        conditions = yaml.safe_load(importlib.resources.files("pyserini.2cr").joinpath(name).read_text())["conditions"]
    except (FileNotFoundError, KeyError, TypeError) as error:
        raise reader.fail(where, f"pyserini/2cr/{name} has no conditions ({error}); "
                                 "name a file of Pyserini's 2cr") from error
    scores = {c["name"]: s["scores"][0] for c in conditions for s in c.get("splits", []) if s["split"] == split}
    values = {}
    for lang in languages:
        condition = pattern.format(lang=lang)
        if condition not in scores or metric not in scores[condition]:
            raise reader.fail(where, f"pyserini/2cr/{name} has no {metric} for condition {condition}, split {split}")
        values[lang] = float(scores[condition][metric])
    return values


def _expectation(reader: _Reader, raw: Any, metric: str, languages: tuple[str, ...],
                 sources: dict[str, Source], where: str) -> Expectation:
    if not isinstance(raw, dict):
        raise reader.fail(where, "expected a mapping with status (and source, values, average)")
    reader.only(raw, ("status", "source", "values", "values_from", "average"), where)
    status = reader.get(raw, "status", str, where)
    if status not in STATUSES:
        raise reader.fail(f"{where}.status", f"{status!r} is not one of: {', '.join(STATUSES)}")
    if "values_from" in raw:
        values = _values_from_2cr(reader, reader.get(raw, "values_from", dict, where), metric, languages, where)
        source = Source("pyserini-2cr", f"Pyserini 2CR ({raw['values_from']['pyserini_2cr']})", "fraction", 4)
        return _checked(reader, Expectation(status, source, values), where)
    source_key = reader.get(raw, "source", str, where, None)
    if source_key is not None and source_key not in sources:
        raise reader.fail(f"{where}.source", f"{source_key!r} is not a key of sources ({', '.join(sources)})")
    source = sources.get(source_key) if source_key else None
    values = _language_values(reader, raw, languages, source, where)
    average = _number(reader, raw.get("average"), source, f"{where}.average")
    return _checked(reader, Expectation(status, source, values, average), where)


def _language_values(reader: _Reader, raw: dict, languages: tuple[str, ...], source: Source | None,
                     where: str) -> dict[str, float | None]:
    """Per-language values; a block that gives values must list every language (null where unknown)."""
    given = reader.get(raw, "values", dict, where, {})
    keys = set(given)
    if given and keys != set(languages):
        missing = [lang for lang in languages if lang not in keys]
        extra = sorted(str(k) + _yaml_hint(k) for k in keys - set(languages))
        raise reader.fail(f"{where}.values", f"must list every language (null where not reported); "
                                             f"missing: {', '.join(missing) or '-'}; "
                                             f"not a language: {', '.join(extra) or '-'}")
    return {lang: _number(reader, given.get(lang), source, f"{where}.values.{lang}") for lang in languages}


def _checked(reader: _Reader, expectation: Expectation, where: str) -> Expectation:
    """Status and values must agree: numbers only when reported or recorded, and then some number."""
    has_numbers = any(v is not None for v in expectation.values.values()) or expectation.average is not None
    if expectation.status in WITH_VALUES:
        if expectation.source is None:
            raise reader.fail(where, f"status {expectation.status} needs 'source: KEY'")
        if not has_numbers:
            raise reader.fail(where, f"status {expectation.status} but no values or average; "
                                     "use status: not reported (or pending) instead")
    elif has_numbers:
        raise reader.fail(where, f"status {expectation.status!r} cannot carry numbers; "
                                 "use status: reported or recorded")
    return expectation


def _steps(reader: _Reader, raw: dict, known: set[str], where: str, base: dict[str, Step]) -> dict[str, Step]:
    """Steps defined or overridden at ``where``; an override keeps the base step's other fields."""
    steps = {}
    for name, spec in reader.get(raw, "steps", dict, where, {}).items():
        here = f"{where}.steps.{name}" if where else f"steps.{name}"
        spec = {"command": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict):
            raise reader.fail(here, "expected a command or a mapping with command (creates, log, hub, requires, help, "
                                    "env)")
        reader.only(spec, ("command", "creates", "log", "hub", "requires", "help", "env"), here)
        old = base.get(name, Step(name, ""))
        step = Step(name, reader.get(spec, "command", str, here, old.command or ...),
                    creates=reader.get(spec, "creates", str, here, old.creates),
                    log=reader.get(spec, "log", str, here, old.log),
                    hub=reader.string_list(spec, "hub", here, old.hub),
                    requires=reader.string_list(spec, "requires", here, old.requires),
                    help=reader.get(spec, "help", str, here, old.help),
                    env=reader.strings(spec, "env", here, old.env))
        _check_command(reader, step.command, known, f"{here}.command")
        for key, template in (("creates", step.creates), ("log", step.log), *(("requires", r) for r in step.requires)):
            if template is not None:
                _check_template(reader, template, known, f"{here}.{key}")
        steps[name] = step
    return steps


def _pipeline(reader: _Reader, raw: dict, steps: dict[str, Step], where: str, default: Any) -> Any:
    pipeline = reader.string_list(raw, "pipeline", where, default)
    if pipeline is default:
        return default
    unknown = [name for name in pipeline if name not in steps]
    if unknown:
        raise reader.fail(f"{where}.pipeline" if where else "pipeline",
                          f"no step called {', '.join(map(str, unknown))}; steps: {', '.join(steps)}")
    return tuple(pipeline)


def _model(reader: _Reader, raw: Any, config: dict, index: int) -> Model:
    where = f"models[{index}]"
    if not isinstance(raw, dict):
        raise reader.fail(where, "expected a mapping with name, display and expected")
    reader.only(raw, ("name", "display", "expected", "run", "encoder", "env", "args", "pipeline", "steps", "note"),
                where)
    name = reader.get(raw, "name", str, where)
    where = f"models[{index}] ({name})"
    if not NAME_PATTERN.match(name):
        raise reader.fail(f"{where}.name", f"{name!r} must match {NAME_PATTERN.pattern} (it is used in file names)")
    run = reader.get(raw, "run", bool, where, True)
    encoder = reader.get(raw, "encoder", str, where, "")
    steps = _steps(reader, raw, config["known"], where, config["steps"])
    pipeline = _pipeline(reader, raw, {**config["steps"], **steps}, where, None)
    uses_encoder = any("encoder" in placeholders(s.command) for s in
                       (steps.get(n) or config["steps"][n] for n in (pipeline or config["pipeline"])))
    if run and uses_encoder and not encoder:
        raise reader.fail(where, "a model that runs needs 'encoder' (or run: false for a reported-only baseline)")
    args = reader.strings(raw, "args", where, {})
    unknown_args = sorted(set(args) - set(pipeline or config["pipeline"]))
    if unknown_args:
        raise reader.fail(f"{where}.args", f"no step called {', '.join(unknown_args)} in this model's pipeline")
    expected = reader.get(raw, "expected", dict, where)
    missing = [m for m in config["metrics"] if m not in expected]
    extra = [str(m) for m in expected if m not in config["metrics"]]
    if missing or extra:
        raise reader.fail(f"{where}.expected", f"needs exactly the metrics {', '.join(config['metrics'])} "
                                               f"(missing: {', '.join(missing) or '-'}; "
                                               f"unknown: {', '.join(extra) or '-'})")
    return Model(
        name=name, display=reader.get(raw, "display", str, where),
        expected={m: _expectation(reader, expected[m], m, config["languages"], config["sources"],
                                  f"{where}.expected.{m}") for m in config["metrics"]},
        run=run, encoder=encoder, env=reader.strings(raw, "env", where, {}), args=args,
        pipeline=pipeline, steps=steps, note=reader.get(raw, "note", str, where, ""),
    )


def _paths(reader: _Reader, raw: dict, known: set[str]) -> dict[str, str]:
    """Path templates in order; each may use the builtins, the settings and the paths before it."""
    given = reader.strings(raw, "paths", "")
    missing = [name for name in REQUIRED_PATHS if name not in given]
    if missing:
        raise reader.fail("paths", f"must define {', '.join(missing)}")
    paths: dict[str, str] = {}
    for name, template in {**given, **{k: v for k, v in DEFAULT_PATHS.items() if k not in given}}.items():
        _check_template(reader, template, known | set(paths), f"paths.{name}")
        paths[name] = template
    return paths


def _topics(reader: _Reader, raw: dict, known: set[str]) -> TopicsSpec | None:
    spec = reader.get(raw, "topics", dict, "", None)
    if spec is None:
        return None
    reader.only(spec, ("dataset", "files"), "topics")
    files = reader.string_list(spec, "files", "topics")
    for index, template in enumerate(files):
        _check_template(reader, template, known, f"topics.files[{index}]")
    dataset = reader.get(spec, "dataset", str, "topics")
    if dataset not in SOURCES:
        raise reader.fail("topics.dataset", f"{dataset!r} is not a data set of pyserini_milco.datasets "
                                            f"({', '.join(SOURCES)})")
    return TopicsSpec(dataset, files)


def _anserini(reader: _Reader, raw: dict, models: tuple[Model, ...]) -> AnseriniSpec | None:
    spec = reader.get(raw, "anserini", dict, "", None)
    if spec is None:
        return None
    reader.only(spec, ("name", "topics", "qrels", "models"), "anserini")
    names = reader.string_list(spec, "models", "anserini")
    runnable = {m.name for m in models if m.run}
    unknown = [n for n in names if n not in runnable]
    if unknown or not names:
        raise reader.fail("anserini.models", f"{', '.join(map(str, unknown)) or 'empty'}: list models that run "
                                             f"({', '.join(sorted(runnable))})")
    templates = {key: reader.get(spec, key, str, "anserini") for key in ("name", "topics", "qrels")}
    for key, template in templates.items():
        allowed = {"lang", "model"} if key == "topics" else {"lang"}
        if "lang" not in placeholders(template) or not placeholders(template) <= allowed:
            raise reader.fail(f"anserini.{key}", f"{template!r} must use {{lang}} (one file per language) and only "
                                                 f"{', '.join('{' + a + '}' for a in sorted(allowed))}")
    return AnseriniSpec(templates["name"], templates["topics"], templates["qrels"], names)


TOP_LEVEL_KEYS = ("name", "title", "description", "languages", "metrics", "tolerance", "sources", "models", "paths",
                  "settings", "env", "pipeline", "steps", "topics", "anserini")


def parse_config(raw: Any, path: Path) -> Config:
    """Validate a parsed YAML document; errors name ``path``, the key and the fix."""
    reader = _Reader(path)
    if not isinstance(raw, dict):
        raise reader.fail("top level", "expected a mapping (see pyserini_milco/regression/config.py)")
    reader.only(raw, TOP_LEVEL_KEYS, "")
    name = reader.get(raw, "name", str, "")
    if not NAME_PATTERN.match(name):
        raise reader.fail("name", f"{name!r} must match {NAME_PATTERN.pattern}")
    settings = {**DEFAULT_SETTINGS, **reader.strings(raw, "settings", "", {})}
    known = set(BUILTIN_VARIABLES) | set(settings)
    paths = _paths(reader, raw, known)
    known |= set(paths)
    steps = {**STOCK_STEPS, **_steps(reader, raw, known, "", STOCK_STEPS)}
    for step in STOCK_STEPS.values():
        _check_command(reader, step.command, known, f"stock step {step.name}")
    tolerance = reader.get(raw, "tolerance", (int, float), "")
    if not 0 <= tolerance < 1:
        raise reader.fail("tolerance", f"{tolerance} must be in [0, 1) (absolute, on trec_eval's 0-1 scale)")
    context = {"known": known, "steps": steps, "languages": _languages(reader, raw), "sources": _sources(reader, raw),
               "metrics": _metrics(reader, raw),
               "pipeline": _pipeline(reader, raw, steps, "", DEFAULT_PIPELINE)}
    raw_models = reader.get(raw, "models", list, "")
    models = tuple(_model(reader, m, context, i) for i, m in enumerate(raw_models))
    duplicates = sorted({m.name for m in models if sum(o.name == m.name for o in models) > 1})
    if duplicates or not models:
        raise reader.fail("models", "model names must be unique and non-empty "
                                    f"({', '.join(duplicates) or 'none given'})")
    return Config(
        path=path, name=name, title=reader.get(raw, "title", str, ""),
        description=" ".join(reader.get(raw, "description", str, "").split()),
        languages=context["languages"], metrics=context["metrics"], tolerance=float(tolerance),
        sources=context["sources"], models=models, paths=paths, settings=settings,
        env=reader.strings(raw, "env", "", {}), pipeline=context["pipeline"], steps=steps,
        topics=_topics(reader, raw, known), anserini=_anserini(reader, raw, models),
    )


def load_config(path: str | Path) -> Config:
    """Read and validate ``path`` (a ``regressions/*.yaml`` file)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config; configs live in regressions/*.yaml") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    return parse_config(raw, path)
