"""Regressions: expected scores of MILCO (and its baselines) per benchmark and language, and a runner.

``regressions/*.yaml`` hold the configs (schema: :mod:`.config`); ``python -m
pyserini_milco.regression`` runs or dry-runs them (:mod:`.__main__`, :mod:`.runner`), writes
Markdown/HTML reports in the style of Pyserini's 2CR pages (:mod:`.report`) and generates the
Anserini regression-style configs in ``anserini_configs/`` (:mod:`.anserini`). Data that lives
only on the Hugging Face hub is fetched by :mod:`.prepare`; MKQA's answer-based judgments come
from :mod:`.answers`.
"""
from __future__ import annotations

from .config import Config, ConfigError, Expectation, Model, Source, Step, load_config
from .runner import Check, Condition, Locations, Verdict, conditions, preflight, render, run_all

__all__ = ["Check", "Condition", "Config", "ConfigError", "Expectation", "Locations", "Model", "Source", "Step",
           "Verdict", "conditions", "load_config", "preflight", "render", "run_all"]
