"""Run a regression config: render each condition's commands, check inputs, execute, compare scores.

A condition is one (model, language) pair. Its steps (by default encode → index → search → eval)
are rendered from the config's templates, run as ``python -m MODULE`` children with Java 21
configured (:mod:`pyserini_milco.integration.pyserini_cli`), and skipped when their output already exists; a
step that fails leaves no partial output behind. Outputs shared by several languages (a path
without ``{lang}``, e.g. one index over XQuAD-R's 11-language pool) are built once.

Before anything runs, :func:`preflight` looks for every missing input and reports them all at
once, saying what is missing and where to put it: named topics and qrels that are neither in
Pyserini's cache (``~/.cache/pyserini/topics-and-qrels``) nor in ``--topics-dir``, paths a step
requires, and outputs that a step would fetch from the Hugging Face hub while it is unreachable.

Scores are read from the evaluation log (``trec_eval``'s ``MEASURE all VALUE`` lines) and compared
with the expected value: ``OK`` when they agree to the digits the source printed, ``within
tolerance`` when closer than the config's tolerance, ``FAIL`` otherwise; a null expectation gives
``no expectation``, which is never counted as a pass.
"""
from __future__ import annotations

import enum
import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MilcoError, OptionError
from ..integration import pyserini_cli
from .config import Config, Expectation, Model, Step

PYSERINI_TOPICS_CACHE = Path.home() / ".cache" / "pyserini" / "topics-and-qrels"
HUB_HOST = ("huggingface.co", 443)
_SCORE_LINE = re.compile(r"^(\S+)\s+all\s+(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$")


class Verdict(enum.Enum):
    """How a measured score compares with its expectation."""

    OK = "OK"
    TOLERANCE = "within tolerance"
    FAIL = "FAIL"
    NO_EXPECTATION = "no expectation"

    @property
    def passed(self) -> bool:
        """Only OK and within tolerance are passes; no expectation is not one."""
        return self in (Verdict.OK, Verdict.TOLERANCE)


@dataclass(frozen=True)
class Locations:
    """Where a run reads and writes: the per-config work folder, corpora, topics and Pyserini's cache."""

    work_dir: Path
    corpus_dir: Path
    topics_dir: Path
    cache_dir: Path = PYSERINI_TOPICS_CACHE


@dataclass(frozen=True)
class Condition:
    """One model on one language of a config."""

    config: Config
    model: Model
    lang: str

    @property
    def name(self) -> str:
        """``model.lang``, as Pyserini's 2CR names its conditions."""
        return f"{self.model.name}.{self.lang}"


@dataclass(frozen=True)
class RenderedStep:
    """A step with every placeholder filled in, ready to run."""

    name: str
    module: str
    args: tuple[str, ...]
    env: dict[str, str]
    creates: Path | None
    log: Path
    hub: tuple[str, ...]
    requires: tuple[Path, ...]
    help: str
    cwd: Path

    @property
    def python_command(self) -> str:
        """``python -m MODULE ARGS`` as a shell line."""
        return " ".join(["python", "-m", self.module, *map(shlex.quote, self.args)])

    @property
    def command(self) -> str:
        """The command as a shell line, environment first (what ``--display-commands`` prints)."""
        return " ".join([*(f"{key}={shlex.quote(value)}" for key, value in self.env.items()), self.python_command])


@dataclass(frozen=True)
class Check:
    """One metric of one condition: measured beside expected."""

    condition: str
    metric: str
    measured: float | None
    expected: float | None
    verdict: Verdict
    note: str = ""


@dataclass
class Outcome:
    """What running conditions produced: the score checks, and the conditions whose steps failed."""

    checks: list[Check] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when a step failed or a score missed its expectation."""
        return bool(self.errors) or any(c.verdict is Verdict.FAIL for c in self.checks)


def conditions(config: Config, models: Sequence[str] = (), languages: Sequence[str] = ()) -> list[Condition]:
    """The runnable conditions of ``config`` for the named models and languages (all when none are named)."""
    unknown = sorted(set(languages) - set(config.languages))
    if unknown:
        raise OptionError(f"{config.path}: language(s) {', '.join(unknown)} not in this config "
                         f"({', '.join(config.languages)})")
    reported_only = [name for name in models if not config.model(name).run]
    if reported_only:
        raise OptionError(f"{config.path}: {', '.join(reported_only)} is reported, not run (run: false); "
                         "its numbers appear in reports only")
    chosen = [config.model(name) for name in models] if models else [m for m in config.models if m.run]
    return [Condition(config, model, lang) for model in chosen for lang in (languages or config.languages)]


def metric_flags(config: Config) -> str:
    """``-m`` options for trec_eval, one per metric."""
    return " ".join(f"-m {measure}" for measure in config.metrics.values())


def variables(condition: Condition, where: Locations, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Every template variable of ``condition``: builtins, settings (with overrides), then the paths."""
    config = condition.config
    values = {
        "lang": condition.lang, "model": condition.model.name, "encoder": condition.model.encoder,
        "config": config.name, "work_dir": str(where.work_dir), "corpus_dir": str(where.corpus_dir),
        "topics_dir": str(where.topics_dir), "metric_flags": metric_flags(config),
        **config.settings, **(overrides or {}),
    }
    for name, template in config.paths.items():
        values[name] = template.format(**values)
    return values


def _resolve(config: Config, path: str) -> Path:
    """A config-relative path, resolved against the project root."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else config.root / candidate


def render_step(condition: Condition, step: Step, values: dict[str, str]) -> RenderedStep:
    """``step`` of ``condition`` with placeholders filled and the model's extra flags appended."""
    words = shlex.split(step.command.format(**values)) + shlex.split(condition.model.args.get(step.name, ""))
    config = condition.config
    default_log = "{work_dir}/logs/{model}.{lang}." + step.name + ".log"
    return RenderedStep(
        name=step.name, module=words[2], args=tuple(words[3:]),
        env={**config.env, **condition.model.env, **step.env},
        creates=_resolve(config, step.creates.format(**values)) if step.creates else None,
        log=_resolve(config, (step.log or default_log).format(**values)),
        hub=step.hub, requires=tuple(_resolve(config, r.format(**values)) for r in step.requires),
        help=step.help.format(**values), cwd=config.root,
    )


def render(condition: Condition, where: Locations, overrides: dict[str, str] | None = None) -> list[RenderedStep]:
    """The rendered steps of ``condition``, in pipeline order."""
    values = variables(condition, where, overrides)
    return [render_step(condition, step, values) for step in condition.config.pipeline_of(condition.model)]


def topic_files(condition: Condition, where: Locations, overrides: dict[str, str] | None = None) -> list[str]:
    """Names of the topics and qrels files Pyserini must find in its cache for ``condition``."""
    spec = condition.config.topics
    if spec is None:
        return []
    values = variables(condition, where, overrides)
    return [template.format(**values) for template in spec.files]


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers (False when HF_HUB_OFFLINE is set)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    try:
        socket.create_connection(HUB_HOST, timeout=timeout).close()
        return True
    except OSError:
        return False


def _topics_problem(name: str, condition: Condition, where: Locations) -> str | None:
    """Why a named topics/qrels file cannot be found, or None when the cache or --topics-dir has it."""
    if (where.cache_dir / name).is_file() or (where.topics_dir / name).is_file():
        return None
    dataset = condition.config.topics.dataset if condition.config.topics else "?"
    return (f"{name} is in neither {where.topics_dir} (--topics-dir) nor Pyserini's cache {where.cache_dir}: fetch it "
            f"with `python -m pyserini_milco.datasets fetch {dataset} --out DIR` and pass --topics-dir pointing to "
            f"the fetched folder, or copy it into {where.cache_dir}")


def _steps_problems(steps: Sequence[RenderedStep], online: Callable[[], bool] | None) -> tuple[list[str], list[str]]:
    """(problems, notes) for the steps that would run. ``online``: asked only when a download is needed;
    None (dry run) reports downloads as notes without asking."""
    problems, notes = [], []
    for step in steps:
        if step.creates is not None and step.creates.exists():
            continue
        problems += [f"{path} is missing; {step.name} needs it" + (f" ({step.help})" if step.help else "")
                     for path in step.requires if not path.exists()]
        if step.hub:
            message = (f"{step.creates} is missing ({step.help or 'the step output'}); put it there, or run online so "
                       f"that `{step.python_command}` fetches it from the Hugging Face hub ({', '.join(step.hub)})")
            (notes if online is None or online() else problems).append(message)
        break  # later steps read what this one creates: their inputs cannot be checked yet
    return problems, notes


def preflight(chosen: Sequence[Condition], where: dict[str, Locations], online: Callable[[], bool] | None,
              overrides: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """All missing inputs of ``chosen`` at once: (problems that stop a run, informational notes)."""
    problems: list[str] = []
    notes: list[str] = []
    for condition in chosen:
        locations = where[condition.config.name]
        problems += filter(None, (_topics_problem(n, condition, locations)
                                  for n in topic_files(condition, locations, overrides)))
        step_problems, step_notes = _steps_problems(render(condition, locations, overrides), online)
        problems += step_problems
        notes += step_notes
    return list(dict.fromkeys(problems)), list(dict.fromkeys(notes))


def stage_topics(condition: Condition, where: Locations, overrides: dict[str, str] | None = None) -> list[Path]:
    """Copy the condition's topics and qrels from ``--topics-dir`` into Pyserini's cache when absent there."""
    copied = []
    for name in topic_files(condition, where, overrides):
        target = where.cache_dir / name
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(where.topics_dir / name, target)
            copied.append(target)
    return copied


class StepFailed(MilcoError, RuntimeError):
    """A command exited with an error, or did not create what it should have."""


def _remove(path: Path) -> None:
    """Delete a partial output (file or folder)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def execute(step: RenderedStep) -> str:
    """Run ``step`` unless its output exists; return what happened. Its output streams into its log."""
    if step.creates is not None and step.creates.exists():
        return f"skipped: {step.creates} exists"
    step.log.parent.mkdir(parents=True, exist_ok=True)
    if step.creates is not None:  # some tools make only the last folder (pyserini.index.faiss: os.mkdir)
        step.creates.parent.mkdir(parents=True, exist_ok=True)
    env = {**pyserini_cli.child_env(), **step.env}
    start = time.monotonic()
    try:
        with open(step.log, "w", encoding="utf-8") as log:
            code = subprocess.run(pyserini_cli.command(step.module, step.args), stdout=log,
                                  stderr=subprocess.STDOUT, env=env, cwd=step.cwd).returncode
        if code != 0 or (step.creates is not None and not step.creates.exists()):
            reason = f"exit {code}" if code else f"exit 0 but {step.creates} was not created"
            raise StepFailed(f"{step.name} failed ({reason}): `{step.command}`; log {step.log}, last lines:\n"
                             f"{_tail(step.log)}")
    except BaseException:
        if step.creates is not None:
            _remove(step.creates)
        raise
    return f"ran in {time.monotonic() - start:.1f}s, log {step.log}"


def read_scores(text: str, config: Config) -> dict[str, float]:
    """``{metric: value}`` from ``MEASURE all VALUE`` lines (trec_eval writes ``ndcg_cut.10`` as ``ndcg_cut_10``)."""
    found = {}
    for line in text.splitlines():
        match = _SCORE_LINE.match(line.strip())
        if match:
            found[match.group(1)] = float(match.group(2))
    return {metric: found[measure.replace(".", "_")] for metric, measure in config.metrics.items()
            if measure.replace(".", "_") in found}


def measured_scores(condition: Condition, where: Locations, overrides: dict[str, str] | None = None
                    ) -> dict[str, float]:
    """Scores already measured for ``condition`` (read from its evaluation log), or {} when it has none."""
    evaluation = Path(variables(condition, where, overrides)["evaluation"])
    if not evaluation.is_file():
        return {}
    return read_scores(evaluation.read_text(encoding="utf-8", errors="replace"), condition.config)


def verdict(measured: float, expected: float | None, half_unit: float, tolerance: float) -> Verdict:
    """Compare one score; the tiny epsilon absorbs binary floating point (0.8045 - 0.804)."""
    if expected is None:
        return Verdict.NO_EXPECTATION
    difference = abs(measured - expected)
    if difference <= half_unit + 1e-9:
        return Verdict.OK
    return Verdict.TOLERANCE if difference <= tolerance + 1e-9 else Verdict.FAIL


def describe_expectation(expectation: Expectation, lang: str) -> str:
    """Where the expected value comes from, or why there is none (for output lines and reports)."""
    if expectation.expected(lang) is not None:
        return f"{expectation.status}, source {expectation.source.key}"
    if expectation.status in ("reported", "recorded"):
        return f"not reported for {lang}"
    return expectation.status


def check(condition: Condition, scores: dict[str, float]) -> list[Check]:
    """One :class:`Check` per metric; a metric missing from ``scores`` fails."""
    checks = []
    for metric, expectation in condition.model.expected.items():
        expected = expectation.expected(condition.lang)
        note = describe_expectation(expectation, condition.lang)
        if metric not in scores:
            checks.append(Check(condition.name, metric, None, expected, Verdict.FAIL, "no score in the evaluation"))
            continue
        half_unit = expectation.source.half_unit if expectation.source else 0.0
        checks.append(Check(condition.name, metric, scores[metric], expected,
                            verdict(scores[metric], expected, half_unit, condition.config.tolerance), note))
    return checks


def format_check(item: Check) -> str:
    """``nDCG@10 : 0.8043 [OK] expected 0.8040 (reported: ...)``, as Pyserini's 2CR prints."""
    measured = "  n/a " if item.measured is None else f"{item.measured:.4f}"
    expected = "" if item.expected is None else f" expected {item.expected:.4f}"
    return f"    {item.metric:8}: {measured} [{item.verdict.value}]{expected} ({item.note})"


def run_condition(condition: Condition, where: Locations, overrides: dict[str, str] | None,
                  echo=print) -> tuple[list[Check], str | None]:
    """Run every step of ``condition`` and check its scores; (checks, error or None)."""
    echo(f"condition {condition.name}:")
    stage_topics(condition, where, overrides)
    for step in render(condition, where, overrides):
        echo(f"  {step.name}: {step.command}")
        try:
            echo(f"    {execute(step)}")
        except StepFailed as error:
            echo(f"    FAIL: {error}")
            return [], f"{condition.name}: {error}"
    checks = check(condition, measured_scores(condition, where, overrides))
    for item in checks:
        echo(format_check(item))
    return checks, None


def run_all(chosen: Iterable[Condition], where: dict[str, Locations], overrides: dict[str, str] | None = None,
            echo=print) -> Outcome:
    """Run conditions one after the other; a failed condition does not stop the others."""
    outcome = Outcome()
    for condition in chosen:
        checks, error = run_condition(condition, where[condition.config.name], overrides, echo)
        outcome.checks += checks
        if error:
            outcome.errors.append(error)
    return outcome
