"""From a checkpoint name to index terms: :mod:`.names` (``milco``, ``milco-mini``, a folder or a hub
id → a loaded checkpoint), :mod:`.encoder` (``MilcoEncoder``: batching, sparse vectors, the Python
API), :mod:`.terms` (term names, escaping, quantization), :mod:`.pruning` (post-hoc pruning),
:mod:`.options` (how weights become index terms: the retrieval policy that the encoders, the
wrappers, the Pyserini adapter and the trainers share)."""
