"""Which ``--encoder`` values are baselines, and the Pyserini encoders they get.

Pyserini picks an encoder class by the first key of its encoder map that is a substring of
``--encoder`` (else its ``Auto*`` class). The import hook calls :func:`register_document_encoders`
and :func:`register_impact_search` here, which register MILCO (:mod:`pyserini_milco.integration.plugin`)
with these baselines: every entry of the document map, and the ``Auto`` fallback, ask
:func:`document_encoder` first (after MILCO), and :func:`register_query_encoders` does the same for the query map that
``pyserini.search.faiss`` and ``pyserini.search.hybrid`` use; ``pyserini.search.lucene --impact``
asks :func:`impact_query_encoder`. So the model decides, never an accidental substring (our own
cache folder ``~/.cache/pyserini-milco/multilingual-e5-small`` contains "milco").

A name is a baseline when it is a BGE-M3 release folder (it holds ``sparse_linear.pt`` and
``colbert_linear.pt``), or else when it contains ``bge-m3`` or ``e5-small`` (``bge-m3``,
``BAAI/bge-m3``, ``e5-small``, ``multilingual-e5-small``, ``intfloat/multilingual-e5-small``, or a
folder named so).
"""
from __future__ import annotations

from typing import Any, Callable

KINDS = ("bge-m3", "e5-small")


def baseline_kind(name: Any) -> str | None:
    """``bge-m3``, ``e5-small`` or None (not a baseline) for an ``--encoder`` value."""
    if not isinstance(name, str) or not name:
        return None
    from .bge_m3 import is_release_folder  # imported late: the hook must not pull in torch

    if is_release_folder(name):
        return "bge-m3"
    return next((kind for kind in KINDS if kind in name.lower()), None)


def document_encoder(name: Any, device: str = "cpu", prefix: str | None = None) -> object | None:
    """The baseline's ``pyserini.encode`` encoder, or None when ``name`` is not a baseline. BGE-M3 gives
    dense vectors unless ``PYSERINI_MILCO_BGE_M3_OUTPUT=sparse`` (:mod:`.sparse`)."""
    kind = baseline_kind(name)
    if kind is None:
        return None
    from . import dense, sparse

    if kind == "bge-m3" and sparse.output_from_env() == "sparse":
        return sparse.document_encoder(name, device=device)
    return dense.document_encoder(kind, name, device=device, prefix=prefix)


def query_encoder(name: Any, device: str = "cpu", prefix: str | None = None) -> object | None:
    """The baseline's dense query encoder for ``FaissSearcher``, or None when ``name`` is not a baseline."""
    kind = baseline_kind(name)
    if kind is None:
        return None
    from . import dense

    return dense.query_encoder(kind, name, device=device, prefix=prefix)


def impact_query_encoder(name: Any) -> object | None:
    """BGE-M3's lexical query encoder for ``LuceneImpactSearcher``, or None (e5 has no sparse side)."""
    if baseline_kind(name) != "bge-m3" or name.endswith(".jsonl"):
        return None
    from . import sparse

    return sparse.impact_query_encoder(name)


def _baseline_aware(original: Callable) -> Callable:
    """A query-encoder factory that builds the baseline for a baseline name and ``original`` otherwise."""

    def build(*args, **kwargs):
        name = kwargs.get("encoder_dir", args[0] if args else None)
        built = query_encoder(name, device=kwargs.get("device") or "cpu", prefix=kwargs.get("prefix"))
        return built if built is not None else original(*args, **kwargs)

    build.__wrapped__ = original
    return build


def register_query_encoders(encode) -> None:
    """Make ``pyserini.encode``'s query map and ``AutoQueryEncoder`` (which ``pyserini.search.faiss``
    imports from it) build the baselines' query encoders for baseline names."""
    if getattr(encode, "_baselines_registered", False):
        return
    classes = encode.query_encoder_class_map
    for key, factory in list(classes.items()):
        if factory is not None:
            classes[key] = _baseline_aware(factory)
    encode.AutoQueryEncoder = _baseline_aware(encode.AutoQueryEncoder)
    encode._baselines_registered = True


def register_document_encoders() -> None:
    """The hook's call after ``pyserini.encode`` is imported: MILCO first, then these baselines."""
    from ..integration.plugin import register_document_encoder

    register_document_encoder(document_encoder, register_query_encoders)


def register_impact_search() -> None:
    """The hook's call after ``pyserini.search.lucene._impact_searcher`` is imported."""
    from ..integration import plugin

    plugin.register_impact_search(impact_query_encoder)
