"""``python -m pyserini_milco.regression``: run, dry-run or report regression configs.

::

    python -m pyserini_milco.regression --config regressions/NAME.yaml [--config ...]
        [--condition MODEL ...] [--language L ...] [--dry-run] [--display-commands]
        [--corpus-dir D] [--topics-dir D] [--work-dir D] [--set KEY=VALUE ...]
        [--generate-report OUT] [--write-anserini-configs DIR]

Without ``--dry-run`` every selected condition runs encode → index → search → eval (steps whose
output exists are skipped) and each score is compared with its expectation. ``--dry-run`` runs
nothing: it renders every command, lists what each condition is expected to score, and checks the
files the config refers to. ``--generate-report OUT`` writes ``OUT.md`` and ``OUT.html`` with the
expected scores and whatever the work folder has measured. Exit status: 0 when nothing failed, 1
when a step or a score failed, 2 when a config is invalid or an input is missing (nothing is run
then: every missing input is listed first).
"""
from __future__ import annotations

import argparse
import functools
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..evaluation import datasets
from . import anserini, report, runner
from .config import Config, ConfigError, load_config

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyserini_milco.regression", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", required=True, type=Path,
                        help="regression config (regressions/*.yaml); repeat for several")
    parser.add_argument("--condition", action="append", default=[],
                        help="run only this model (repeatable; a model of every given config)")
    parser.add_argument("--language", action="append", default=[], help="run only this language (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="check and render, run nothing")
    parser.add_argument("--display-commands", action="store_true", help="print every rendered command")
    parser.add_argument("--corpus-dir", type=Path, help="where corpora are (or get prepared); default runs/corpora")
    parser.add_argument("--topics-dir", type=Path,
                        help="folder with named topics/qrels files to stage into Pyserini's cache "
                             "(default: the config's topics dataset under ../shared/data)")
    parser.add_argument("--work-dir", type=Path, help="encoded corpora, indexes, runs, logs; default runs/regressions")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. device=cuda:0 or threads=16")
    parser.add_argument("--generate-report", metavar="OUT", type=Path, help="write OUT.md and OUT.html")
    parser.add_argument("--write-anserini-configs", metavar="DIR", type=Path,
                        help="write the Anserini regression-style configs and exit")
    return parser


def parse_overrides(pairs: Sequence[str], configs: Sequence[Config]) -> dict[str, str]:
    """``KEY=VALUE`` pairs; a key must be a setting of every config."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        unknown = [c.path.name for c in configs if key not in c.settings]
        if not sep or unknown:
            known = ", ".join(sorted(configs[0].settings))
            raise ConfigError(f"--set {pair}: expected KEY=VALUE with KEY one of the settings ({known})")
        overrides[key] = value
    return overrides


def locations(config: Config, args: argparse.Namespace) -> runner.Locations:
    """Absolute work, corpus and topics folders of ``config`` (CLI values first, then defaults)."""
    runs = config.root / "runs"
    topics_default = datasets.default_data_dir(config.topics.dataset) if config.topics else runs / "topics"
    where = runner.Locations(
        work_dir=((args.work_dir or runs / "regressions") / config.name).resolve(),
        corpus_dir=(args.corpus_dir or runs / "corpora").resolve(),
        topics_dir=(args.topics_dir or topics_default).resolve(),
    )
    spaced = [str(path) for path in (where.work_dir, where.corpus_dir, where.topics_dir) if " " in str(path)]
    if spaced:
        raise ConfigError(f"{', '.join(spaced)}: folders with spaces are not supported (commands are split on "
                          "whitespace); choose --work-dir, --corpus-dir and --topics-dir without spaces")
    return where


def expectation_lines(chosen: Sequence[runner.Condition]) -> list[str]:
    """What each condition is expected to score (the dry run's check that every language has values)."""
    lines = []
    for condition in chosen:
        parts = []
        for metric, expectation in condition.model.expected.items():
            value = expectation.expected(condition.lang)
            text = f"{value:.4f}" if value is not None else runner.describe_expectation(expectation, condition.lang)
            parts.append(f"{metric} {text}")
        lines.append(f"  {condition.name}: " + "; ".join(parts))
    return lines


def dry_run(chosen: Sequence[runner.Condition], where: dict[str, runner.Locations], overrides: dict[str, str],
            display: bool) -> int:
    """Render and check everything; run nothing."""
    for condition in chosen:
        steps = runner.render(condition, where[condition.config.name], overrides)
        if display:
            print(f"condition {condition.name}:")
            print("\n".join(f"  {step.command}" for step in steps))
    print("expected scores:")
    print("\n".join(expectation_lines(chosen)))
    problems, notes = runner.preflight(chosen, where, None, overrides)
    _print_list("to be fetched when run", notes)
    _print_list("MISSING (a real run would stop here)", problems)
    print(f"dry run: {len(chosen)} conditions, {len(problems)} missing input(s)")
    return EXIT_UNUSABLE if problems else EXIT_OK


def _print_list(title: str, items: Sequence[str]) -> None:
    if items:
        print(f"{title}:")
        print("\n".join(f"  - {item}" for item in items))


def real_run(chosen: Sequence[runner.Condition], where: dict[str, runner.Locations], overrides: dict[str, str]
             ) -> int:
    """Check every input first, then run; non-zero when anything failed."""
    problems, _ = runner.preflight(chosen, where, functools.cache(runner.hub_reachable), overrides)
    if problems:
        _print_list("cannot run, inputs missing", problems)
        return EXIT_UNUSABLE
    outcome = runner.run_all(chosen, where, overrides)
    counts = Counter(c.verdict.value for c in outcome.checks)
    print("summary: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) + f"; {len(outcome.errors)} failed")
    _print_list("failed conditions", outcome.errors)
    return EXIT_FAILED if outcome.failed else EXIT_OK


def write_report(out: Path, configs: Sequence[Config], where: dict[str, runner.Locations],
                 overrides: dict[str, str]) -> None:
    """``OUT.md`` and ``OUT.html`` for ``configs``, with what the work folders have measured."""
    sections = []
    for config in configs:
        measured = {c.name: runner.measured_scores(c, where[config.name], overrides) for c in runner.conditions(config)}
        sections.append(report.section(config, where[config.name], measured, overrides))
    for path in report.write_report(out, sections):
        print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configs = [load_config(path) for path in args.config]
        overrides = parse_overrides(args.set, configs)
        if args.write_anserini_configs:
            for config in configs:
                for path in anserini.write(config, args.write_anserini_configs):
                    print(f"wrote {path}")
            return EXIT_OK
        where = {config.name: locations(config, args) for config in configs}
        chosen = [c for config in configs for c in runner.conditions(config, args.condition, args.language)]
    except (ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    if args.dry_run:
        status = dry_run(chosen, where, overrides, args.display_commands)
    else:
        status = real_run(chosen, where, overrides)
    if args.generate_report:
        write_report(args.generate_report, configs, where, overrides)
    return status


if __name__ == "__main__":
    sys.exit(main())
