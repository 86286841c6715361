"""Baselines that run beside MILCO through the same stock Pyserini commands.

* **BGE-M3** (Chen et al., arXiv 2402.03216), loaded from its release layout (``BAAI/bge-m3``) by hub id
  through the Hugging Face cache or from a folder (:mod:`.bge_m3`), in its five modes: dense
  (``pyserini.encode`` → ``pyserini.index.faiss`` → ``pyserini.search.faiss``, :mod:`.dense`), sparse
  (lexical weights as a JsonVectorCollection → Lucene impact index → ``search.lucene --impact``,
  :mod:`.sparse`), multi-vector and "all" (a rerank of the dense top 100, :mod:`.rerank`) and
  dense+sparse (a weighted fusion of the two runs, :mod:`.fuse`), as its authors evaluate them.
* **multilingual-e5-small** (the real weights that milco-mini's backbone comes from,
  :mod:`pyserini_milco.mini.e5`): a dense retriever that runs offline, here and in CI (:mod:`.dense`).

:mod:`.registration` tells Pyserini's encoder maps about them; the import hook
(:mod:`_pyserini_milco_hook`, :mod:`pyserini_milco.integration.plugin`) calls it, so that
``--encoder bge-m3`` / ``BAAI/bge-m3`` / a BGE-M3 folder and ``--encoder e5-small`` work in
``pyserini.encode``, ``pyserini.search.faiss``, ``pyserini.search.lucene --impact`` and
``pyserini.search.hybrid``.
"""
