"""Regression reports in Markdown and HTML, in the style of Pyserini's 2CR pages.

For each config and metric, one table: a row per model and language column, plus the average, so
that MILCO and the baselines stand side by side per language. Each model has an expected row whose
second column says where its numbers come from: ``reported`` (quoted from a publication, not run
here), ``recorded`` (from an actual run of this pipeline on this project's machines), ``pending`` or
``not reported``; values are on trec_eval's 0-1 scale, ``–`` when not reported. For models this
pipeline runs, a second row holds what the work folder measured, each score marked with its
verdict, labelled ``measured here``, or ``not run here`` when nothing was measured (e.g. BGE-M3 on
MIRACL: runnable, but its weights and corpora are not on this machine). Baselines that are only
quoted (``run: false``) have no second row. The commands of every runnable model follow the tables
(HTML: every language; Markdown: the first language).

Both formats are rendered from the same :class:`Table`, so they cannot drift apart.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..atomic import atomic_output
from .config import Config, Expectation, Model
from .runner import Condition, Locations, Verdict, conditions, render, verdict

MARKS = {Verdict.OK: "✔", Verdict.TOLERANCE: "≈", Verdict.FAIL: "✘", Verdict.NO_EXPECTATION: "○"}
LEGEND = ("Rows: reported = quoted from a publication (not run here) · recorded = from an actual run of this "
          "pipeline · measured here = this work folder's run · not run here = runnable, nothing measured yet. "
          "✔ OK (agrees to the digits the source printed) · ≈ within tolerance · ✘ FAIL · "
          "○ no expectation (measured, nothing to compare with) · – not reported · pending: to be recorded "
          "from an actual run. Scores are on trec_eval's 0–1 scale; the paper's percentages are divided by 100.")


@dataclass(frozen=True)
class Cell:
    """A table cell: its text and, for HTML, a CSS class and a tooltip."""

    text: str
    css: str = ""
    tip: str = ""


@dataclass(frozen=True)
class Table:
    """One metric of one config."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Section:
    """One config: its tables, sources and commands."""

    config: Config
    tables: tuple[Table, ...]
    commands: dict[str, dict[str, list[str]]]  # model display -> language -> commands


def _decimals(expectation: Expectation) -> int:
    """Decimals, on the 0-1 scale, that match the source's printed precision (80.4% → 3)."""
    source = expectation.source
    return 4 if source is None else source.digits + round(math.log10(source.scale))


def expected_cell(expectation: Expectation, lang: str | None) -> Cell:
    """The expected value of one language (or the average when ``lang`` is None)."""
    value = expectation.average if lang is None else expectation.expected(lang)
    tip = expectation.source.cite if expectation.source else ""
    if lang is None and value is None and expectation.values and None not in expectation.values.values():
        value, tip = sum(expectation.values.values()) / len(expectation.values), "mean of the per-language values"
    if value is not None:
        return Cell(f"{value:.{_decimals(expectation)}f}", "expected", tip)
    return Cell("pending" if expectation.status == "pending" else "–", "missing", expectation.status)


def measured_cell(condition: Condition, metric: str, scores: dict[str, float]) -> Cell:
    """A measured score with its verdict mark, or ``–`` when not measured yet."""
    if metric not in scores:
        return Cell("–", "missing", "not measured yet")
    expectation = condition.model.expected[metric]
    half_unit = expectation.source.half_unit if expectation.source else 0.0
    result = verdict(scores[metric], expectation.expected(condition.lang), half_unit, condition.config.tolerance)
    return Cell(f"{scores[metric]:.4f} {MARKS[result]}", result.name.lower(), result.value)


def _average(values: Sequence[float | None]) -> Cell:
    """The mean when every language has a value, else ``–`` (a partial mean would mislead)."""
    if not values or any(v is None for v in values):
        return Cell("–", "missing", "not every language measured")
    return Cell(f"{sum(values) / len(values):.4f}", "average")


def model_rows(config: Config, model: Model, metric: str, measured: dict[str, dict[str, float]]
               ) -> list[tuple[Cell, ...]]:
    """The expected row of ``model`` and, when it runs, its measured row."""
    expectation = model.expected[metric]
    label = model.display if model.run else f"{model.display} (reported, not run)"
    rows = [(Cell(label, "model", model.note), Cell(expectation.status, "kind"),
             *(expected_cell(expectation, lang) for lang in config.languages), expected_cell(expectation, None))]
    if model.run:
        chosen = [Condition(config, model, lang) for lang in config.languages]
        cells = [measured_cell(c, metric, measured.get(c.name, {})) for c in chosen]
        values = [measured.get(c.name, {}).get(metric) for c in chosen]
        ran_here = any(c.name in measured and measured[c.name] for c in chosen)
        rows.append((Cell(""), Cell("measured here" if ran_here else "not run here", "kind"), *cells, _average(values)))
    return rows


def tables(config: Config, measured: dict[str, dict[str, float]]) -> tuple[Table, ...]:
    """One table per metric of ``config``."""
    header = ("Model", "", *config.languages, "avg")
    return tuple(Table(f"{metric} ({measure})", header,
                       tuple(row for model in config.models for row in model_rows(config, model, metric, measured)))
                 for metric, measure in config.metrics.items())


def section(config: Config, where: Locations, measured: dict[str, dict[str, float]],
            overrides: dict[str, str] | None = None) -> Section:
    """Everything the report shows about ``config``."""
    commands: dict[str, dict[str, list[str]]] = {}
    for condition in conditions(config):
        commands.setdefault(condition.model.display, {})[condition.lang] = [
            step.command for step in render(condition, where, overrides)]
    return Section(config, tables(config, measured), commands)


def _markdown_row(cells: Sequence[Cell | str]) -> str:
    return "| " + " | ".join(c.text if isinstance(c, Cell) else c for c in cells) + " |"


def _markdown_table(table: Table) -> list[str]:
    return [f"### {table.caption}", "", _markdown_row(table.header), _markdown_row(["---"] * len(table.header)),
            *map(_markdown_row, table.rows), ""]


def _markdown_section(part: Section) -> list[str]:
    config = part.config
    lines = [f"## {config.title}", "", config.description, "",
             f"Config `{config.path.name}` · tolerance ±{config.tolerance:g} (absolute)", "", "Sources:", ""]
    lines += [f"- `{s.key}`: {s.cite}" for s in config.sources.values()] + [""]
    for table in part.tables:
        lines += _markdown_table(table)
    for display, per_language in part.commands.items():
        lang, commands = next(iter(per_language.items()))
        lines += [f"Commands for {display} ({lang}; other languages differ only in the language code):", "",
                  "```bash", *commands, "```", ""]
    return lines


def markdown(sections: Sequence[Section], generated: str) -> str:
    """The whole report as Markdown."""
    lines = ["# pyserini-milco regressions", "", f"Generated {generated}.", "", LEGEND, ""]
    for part in sections:
        lines += _markdown_section(part)
    return "\n".join(lines)


def _html_cell(cell: Cell, tag: str = "td") -> str:
    css = f' class="{cell.css}"' if cell.css else ""
    tip = f' title="{html.escape(cell.tip)}"' if cell.tip else ""
    return f"<{tag}{css}{tip}>{html.escape(cell.text)}</{tag}>"


def _html_table(table: Table) -> str:
    head = "".join(_html_cell(Cell(h), "th") for h in table.header)
    body = "\n".join("<tr>" + "".join(map(_html_cell, row)) + "</tr>" for row in table.rows)
    return (f"<h3>{html.escape(table.caption)}</h3>\n<table>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{body}\n</tbody>\n</table>")


def _html_commands(display: str, per_language: dict[str, list[str]]) -> str:
    blocks = "\n".join(f"<h4>{html.escape(lang)}</h4><pre><code>{html.escape(chr(10).join(commands))}</code></pre>"
                       for lang, commands in per_language.items())
    return f"<details><summary>Commands: {html.escape(display)}</summary>\n{blocks}\n</details>"


def _html_section(part: Section) -> str:
    config = part.config
    sources = "".join(f"<li><code>{html.escape(s.key)}</code>: {html.escape(s.cite)}</li>"
                      for s in config.sources.values())
    return "\n".join([
        f"<h2>{html.escape(config.title)}</h2>", f"<p>{html.escape(config.description)}</p>",
        f"<p>Config <code>{html.escape(config.path.name)}</code> · tolerance ±{config.tolerance:g} (absolute)</p>",
        f"<p>Sources:</p><ul>{sources}</ul>", *map(_html_table, part.tables),
        *(_html_commands(d, c) for d, c in part.commands.items()),
    ])


STYLE = """body{font-family:sans-serif;margin:2em;max-width:100%}table{border-collapse:collapse;margin-bottom:1em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:right;white-space:nowrap}td.model,td.kind{text-align:left}
td.ok{background:#e6f4e6}td.tolerance{background:#eef3fb}td.fail{background:#fbe6e6}td.missing{color:#888}
pre{background:#f6f6f6;padding:.5em;overflow-x:auto}"""


def html_page(sections: Sequence[Section], generated: str) -> str:
    """The whole report as a self-contained HTML page (no external resources)."""
    body = "\n".join(_html_section(part) for part in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>pyserini-milco regressions</title>'
            f"<style>{STYLE}</style></head><body>\n<h1>pyserini-milco regressions</h1>\n"
            f"<p>Generated {html.escape(generated)}.</p><p>{html.escape(LEGEND)}</p>\n{body}\n</body></html>\n")


def write_report(out: str | Path, sections: Sequence[Section]) -> tuple[Path, Path]:
    """Write ``OUT.md`` and ``OUT.html`` (a ``.md``/``.html`` suffix on ``out`` is dropped)."""
    stem = Path(out)
    stem = stem.with_suffix("") if stem.suffix in (".md", ".html") else stem
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    paths = (stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".html"))
    for path, text in zip(paths, (markdown(sections, generated), html_page(sections, generated)), strict=True):
        with atomic_output(path) as handle:
            handle.write(text)
    return paths
