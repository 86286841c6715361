"""Evaluation data and metrics: :mod:`.metrics` (TREC runs and qrels, ``trec_eval``, the same metrics
in Python), :mod:`.xquadr` (the XQuAD-R data and its settings), :mod:`.xquadr_folder` (it as Pyserini
inputs), :mod:`.xquadr_scores` (the scores every XQuAD-R run reports), :mod:`.xquadr_bm25` (the BM25
baseline), :mod:`.xquadr_milco` (MILCO on XQuAD-R), :mod:`.xquadr_dense` (multilingual-e5-small on
XQuAD-R), :mod:`.datasets` (where the data lives, and its downloader)."""
