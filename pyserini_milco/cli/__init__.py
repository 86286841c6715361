"""The commands (argument parsing and orchestration); ``python -m pyserini_milco.<name>`` runs them:
:mod:`.encode`, :mod:`.encode_queries`, :mod:`.search` (with the flags they share in :mod:`.options`),
:mod:`.distributed` (Ray), :mod:`.xquadr` (XQuAD-R) and :mod:`.demo`."""
