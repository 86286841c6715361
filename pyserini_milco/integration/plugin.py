"""MILCO inside Pyserini: document and query encoders, and their registration.

Pyserini has no plugin mechanism, so :mod:`_pyserini_milco_hook` calls the ``register_*``
functions right after the Pyserini modules they patch are imported:

* ``python -m pyserini.encode ... encoder --encoder milco|milco-mini|FOLDER|HUB_ID`` picks
  :class:`MilcoDocumentEncoder`. The choice is made by the checkpoint, not by a substring alone:
  ``milco`` leads the encoder map (a name containing it matches first), and every other entry of
  the map, and the ``auto`` fallback, first checks whether the folder holds a MILCO checkpoint;
* ``python -m pyserini.search.lucene --impact --encoder ...`` gets :class:`MilcoQueryEncoder`,
  keeps query terms that occur in every document (MILCO's ``m_<s>``/``m_</s>`` do; Pyserini's
  default ``--min-idf 0`` would drop them silently), encodes each batch of queries at once on
  ``--threads`` torch threads (the JVM waits meanwhile), encodes ahead in batches when the stock
  loop asks one query at a time (:mod:`.encode_ahead`), and searches straight into Lucene
  (:mod:`.impact_search`: no per-term pyjnius calls, no stored documents read, batches on
  ``--threads`` Java searches at a time).

Options that the stock CLIs cannot carry come from environment variables (our own wrappers,
``python -m pyserini_milco.encode`` / ``.search``, take them as flags):
``PYSERINI_MILCO_SCALE`` (quantization scale, default 100), ``PYSERINI_MILCO_PRUNE``
(e.g. ``topk:200`` or ``mass:0.9:pivot``, documents), ``PYSERINI_MILCO_QUERY_PRUNE`` (the same for
queries; ``none`` switches off the default :data:`DEFAULT_QUERY_PRUNE`), ``PYSERINI_MILCO_SOURCE_VIEW``
(``on``/``off``), ``PYSERINI_MILCO_LOWERCASE`` (``on``/``off``, as the authors' MIRACL evaluation).
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..encoding.names import MINI_MODEL_NAME, RELEASED_MODELS
from ..encoding.index_terms import index_terms, join_title
from ..encoding.options import EncodingOptions
from ..encoding.pruning import PruneSpec
from . import encode_ahead

MAP_KEY = "milco"


def is_milco_checkpoint(name_or_path: str) -> bool:
    """True for ``milco``/``milco-mini``/hub ids containing 'milco', and folders whose config says milco."""
    if name_or_path in RELEASED_MODELS or name_or_path == MINI_MODEL_NAME:
        return True
    config = Path(name_or_path) / "config.json"
    if config.is_file():
        try:
            return json.loads(config.read_text(encoding="utf-8")).get("model_type") == "milco"
        except (OSError, ValueError):
            return False
    return not Path(name_or_path).exists() and "milco" in name_or_path.lower()


class _MilcoPyseriniEncoder:
    """Loads the model and turns texts into quantized ``{term: int}`` vectors."""

    def __init__(self, model_name: str, device: str | None = "cpu", options: EncodingOptions | None = None,
                 batch_size: int = 32):
        from ..encoding.encoder import MilcoEncoder

        self.options = options or EncodingOptions.from_env()
        self.encoder = MilcoEncoder.from_pretrained(model_name, device=device, source_view=self.options.source_view,
                                                    dtype=self.options.dtype)
        self.batch_size = batch_size

    def _vectors(self, texts: Sequence[str], max_length: int | None, prune: PruneSpec | None) -> list[dict[str, int]]:
        if self.options.lowercase:
            texts = [t.lower() for t in texts]
        vectors = self.encoder.encode_vectors(texts, batch_size=self.batch_size, max_length=max_length)
        return index_terms(self.encoder, vectors, prune, self.options.scale)


class MilcoDocumentEncoder(_MilcoPyseriniEncoder):
    """Pyserini ``DocumentEncoder`` contract: ``encode(texts, titles=None, max_length=..., **kw)``."""

    def __init__(self, model_name: str, device: str | None = "cpu", options: EncodingOptions | None = None,
                 batch_size: int = 32, **kwargs):
        super().__init__(model_name, device=device, options=options, batch_size=batch_size)

    def encode(self, texts: Sequence[str], titles: Sequence[str] | None = None, max_length: int = 512,
               **kwargs) -> list[dict[str, int]]:
        return self._vectors(join_title(titles, texts), max_length, self.options.prune)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch's CPU threads set to ``count`` for the block, then put back."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class MilcoQueryEncoder(_MilcoPyseriniEncoder):
    """Pyserini ``QueryEncoder`` contract: ``encode(text) -> {term: int}``, with batch prefetching.

    On the CPU torch gets one thread outside :meth:`prefetch`'s batches (the JVM's search threads
    share the cores); a batch runs on the ``threads`` the search was given."""

    def __init__(self, model_name: str, device: str = "cpu", options: EncodingOptions | None = None,
                 max_length: int = 512):
        import torch

        if device == "cpu":
            torch.set_num_threads(1)
        super().__init__(model_name, device=device, options=options)
        self.max_length = max_length
        self._cache: dict[str, dict[str, int]] = {}

    def prefetch(self, texts: Sequence[str], threads: int = 1) -> None:
        """Encode a batch of queries in one call (sorted by length) on ``threads`` torch threads and
        keep them for :meth:`encode`."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            with torch_threads(threads):
                self._cache.update(zip(todo, self._vectors(todo, self.max_length, self.options.query_prune)))

    def encode(self, text: str, **kwargs) -> dict[str, int]:
        """The query's vector; one not yet encoded is encoded with the planned queries after it
        (:func:`.encode_ahead.upcoming`)."""
        if text not in self._cache:
            self.prefetch(encode_ahead.upcoming(text))
        return self._cache.pop(text)


#: ``(name, device, prefix) -> encoder or None``: other models' document encoders, asked after MILCO
#: (the baselines register theirs, :mod:`pyserini_milco.baselines.registration`).
OtherEncoder = Callable[..., object | None]


def _milco_aware(original, other: OtherEncoder | None = None):
    """A factory that builds MILCO for MILCO checkpoints, ``other``'s encoder where it has one, and
    ``original`` for anything else."""

    def build(*args, **kwargs):
        name = kwargs.get("model_name", args[0] if args else "")
        if isinstance(name, str) and is_milco_checkpoint(name):
            return MilcoDocumentEncoder(name, device=kwargs.get("device", "cpu"))
        built = None if other is None else other(name, device=kwargs.get("device") or "cpu", prefix=kwargs.get("prefix"))
        return built if built is not None else original(*args, **kwargs)

    build.__wrapped__ = original
    return build


def register_document_encoder(other: OtherEncoder | None = None,
                              register_query_encoders: Callable[[object], None] | None = None) -> None:
    """Put MILCO first in ``pyserini.encode``'s encoder map and make every entry MILCO-aware and
    ``other``-aware (the "milco" entry too: another model's folder may have "milco" in its path);
    ``register_query_encoders(pyserini.encode)`` patches its query map."""
    import pyserini.encode as encode

    if getattr(encode, "_milco_registered", False):
        return
    classes = encode.document_encoder_class_map
    others = {key: _milco_aware(cls, other) for key, cls in classes.items()}
    classes.clear()
    classes[MAP_KEY] = _milco_aware(MilcoDocumentEncoder, other)
    classes.update(others)
    encode.AutoDocumentEncoder = _milco_aware(encode.AutoDocumentEncoder, other)
    if register_query_encoders is not None:
        register_query_encoders(encode)
    _swap_corpus_io(encode)
    encode._milco_registered = True


def encoder_argument(argv: Sequence[str]) -> str | None:
    """The value of ``--encoder`` in a ``pyserini.encode`` command line, if any."""
    for flag, value in zip(argv, argv[1:]):
        if flag == "--encoder":
            return value
    return None


def is_milco_command(argv: Sequence[str]) -> bool:
    """True for a command line whose ``--encoder`` names a MILCO model (name, hub id or checkpoint)."""
    encoder = encoder_argument(argv)
    return encoder is not None and is_milco_checkpoint(encoder)


def register_encode_ahead() -> None:
    """The hook's call after ``pyserini.query_iterator`` is imported: in a command whose ``--encoder``
    is MILCO, the topics that ``get_query_iterator`` reads become the :mod:`.encode_ahead` plan."""
    from pyserini import query_iterator

    if getattr(query_iterator, "_milco_registered", False) or not is_milco_command(sys.argv):
        return
    query_iterator.get_query_iterator = encode_ahead.planning(query_iterator.get_query_iterator)
    query_iterator._milco_registered = True


def _swap_corpus_io(encode) -> None:
    """For MILCO runs of ``pyserini.encode``: streaming, validated input and atomic per-shard output.

    Other encoders keep Pyserini's own classes (their multimodal special cases are not ours to change).
    """
    if not is_milco_command(sys.argv):
        return
    from functools import partial

    from .pyserini_io import ShardFileWriter, ShardInfo, StreamingCollectionIterator

    shard = ShardInfo()
    encode.JsonlCollectionIterator = partial(StreamingCollectionIterator, shard=shard)
    encode.JsonlRepresentationWriter = partial(ShardFileWriter, shard=shard)


def _uses_milco_terms(query_encoder) -> bool:
    """MILCO encoders, or pre-encoded query files whose terms are all MILCO's (``e_``/``m_``)."""
    if isinstance(query_encoder, MilcoQueryEncoder):
        return True
    vectors = getattr(query_encoder, "vectors", None)
    if not isinstance(vectors, dict) or not vectors:
        return False
    first = next(iter(vectors.values()))
    return bool(first) and all(t.startswith(("e_", "m_")) for t in first)


def register_impact_search(other: Callable[[object], object | None] | None = None) -> None:
    """Teach ``LuceneImpactSearcher`` about MILCO query encoders (and ``other``'s, e.g. BGE-M3's lexical
    one) and MILCO's every-document terms, and search MILCO queries through :mod:`.impact_search`
    (Pyserini's own ``search``/``batch_search`` stay in ``_milco_originals``)."""
    from pyserini.search.lucene import _impact_searcher as module

    from . import impact_search

    def impact_query_encoder(name):
        return None if other is None else other(name)

    searcher_class = module.LuceneImpactSearcher
    if getattr(searcher_class, "_milco_registered", False):
        return
    original_from_str = searcher_class._init_query_encoder_from_str
    original_init = searcher_class.__init__
    original_compute_idf = searcher_class._compute_idf
    original_search = searcher_class.search
    original_batch_search = searcher_class.batch_search

    def init_query_encoder_from_str(query_encoder):
        if isinstance(query_encoder, str) and not query_encoder.endswith(".jsonl") and is_milco_checkpoint(query_encoder):
            return MilcoQueryEncoder(query_encoder)
        baseline = impact_query_encoder(query_encoder)
        return baseline if baseline is not None else original_from_str(query_encoder)

    def __init__(self, index_dir, query_encoder, min_idf=0, *args, **kwargs):
        original_init(self, index_dir, query_encoder, min_idf, *args, **kwargs)
        if min_idf == 0 and _uses_milco_terms(self.query_encoder):
            self.min_idf = -1

    def fast_path(self, fields):
        """MILCO queries without per-field boosts go straight into Lucene (:mod:`.impact_search`)."""
        if fields or self.encoder_type != "pytorch" or not _uses_milco_terms(self.query_encoder):
            return None
        return impact_search.attached(self)

    def search(self, q, k=10, fields=None):
        fast = fast_path(self, fields)
        if fast is None:
            return original_search(self, q, k, fields or {})
        return fast.search(impact_search.query_vector(self, q), k)

    def batch_search(self, queries, qids, k=10, threads=1, fields=None):
        if isinstance(self.query_encoder, MilcoQueryEncoder):  # one pass per search batch, on its threads
            self.query_encoder.prefetch(queries, threads=int(threads))
        elif hasattr(self.query_encoder, "prefetch"):  # BGE-M3's lexical encoder
            self.query_encoder.prefetch(queries)
        fast = fast_path(self, fields)
        if fast is None:
            return original_batch_search(self, queries, qids, k, threads, fields or {})
        vectors = [impact_search.query_vector(self, q) for q in queries]
        return dict(zip(qids, fast.batch_search(vectors, int(k), int(threads))))

    searcher_class._init_query_encoder_from_str = staticmethod(init_query_encoder_from_str)
    searcher_class.__init__ = __init__
    searcher_class._compute_idf = staticmethod(lambda index: impact_search.LazyIdf(lambda: original_compute_idf(index)))
    searcher_class.search = search
    searcher_class.batch_search = batch_search
    searcher_class._milco_originals = {"search": original_search, "batch_search": original_batch_search}
    searcher_class._milco_registered = True
