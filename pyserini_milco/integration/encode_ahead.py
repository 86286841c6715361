"""Encode ahead: the stock search loop's queries encoded in batches although it asks one at a time.

``python -m pyserini.search.lucene`` with its default ``--batch-size 1 --threads 1`` calls
``searcher.search(text)`` once per topic, so a query encoder sees one text at a time; milco-mini
encodes NTREX sentences about 1.7x faster in batches of 64 than one by one on one core (see the
README). The CLI reads its topics through ``pyserini.query_iterator.get_query_iterator`` before its
loop: in a run whose ``--encoder`` is a MILCO model, the hook wraps that function so that the
iterator's query texts, in order, become the :class:`QueryPlan`. When ``search`` asks for a query
that has not been encoded, the encoder encodes it together with the next planned ones
(:data:`AHEAD` in all) in one batch (:func:`pyserini_milco.integration.plugin.register_encode_ahead`
installs :func:`planning` in MILCO runs only).

The plan changes when queries are encoded, never what they are: a query the plan does not hold
next (rewritten by ``--tokenizer``, asked out of order, or from the Python API) is encoded alone,
as without a plan.
"""
from __future__ import annotations

import bisect
from typing import Callable, Iterable

#: Queries encoded in one batch when the loop asks for a query not yet encoded.
AHEAD = 64


class QueryPlan:
    """The query texts a search loop will ask for, in order, with a cursor past the last one asked."""

    def __init__(self, texts: Iterable[str]):
        self.texts = list(texts)
        self._positions: dict[str, list[int]] = {}
        for position, text in enumerate(self.texts):
            self._positions.setdefault(text, []).append(position)
        self._cursor = 0

    def upcoming(self, text: str, count: int = AHEAD) -> list[str]:
        """``text`` and the planned texts after it, ``count`` in all, when the plan holds ``text`` at
        or after the cursor (the cursor then moves past it); ``[text]`` otherwise."""
        positions = self._positions.get(text, [])
        at = bisect.bisect_left(positions, self._cursor)
        if at == len(positions):
            return [text]
        start = positions[at]
        self._cursor = start + 1
        return self.texts[start:start + count]


_plan: QueryPlan | None = None


def set_plan(texts: Iterable[str] | None) -> None:
    """Make ``texts`` the plan of this process (None: no plan)."""
    global _plan
    _plan = None if texts is None else QueryPlan(texts)


def upcoming(text: str, count: int = AHEAD) -> list[str]:
    """The texts to encode when ``text`` is asked for and not yet encoded: :meth:`QueryPlan.upcoming`,
    or ``[text]`` without a plan."""
    return [text] if _plan is None else _plan.upcoming(text, count)


def planning(get_query_iterator: Callable) -> Callable:
    """``get_query_iterator`` that also makes the texts of every iterator it builds the plan."""

    def planned(*args, **kwargs):
        iterator = get_query_iterator(*args, **kwargs)
        set_plan(text for _, text in iterator)
        return iterator

    planned.__wrapped__ = get_query_iterator
    return planned
