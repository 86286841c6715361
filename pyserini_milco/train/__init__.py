"""Training MILCO: stage 1, sparse alignment pretraining (``python -m pyserini_milco.train align``)."""
