"""Evaluation data and metrics: :mod:`.metrics` (TREC runs and qrels, ``trec_eval``, the same metrics
in Python), :mod:`.xquadr` (XQuAD-R as Pyserini inputs, the BM25 baseline), :mod:`.xquadr_milco`
(MILCO on XQuAD-R), :mod:`.xquadr_dense` (multilingual-e5-small on XQuAD-R), :mod:`.datasets` (where
the data lives, and its downloader)."""
