"""Anserini collections on disk: :mod:`.corpus` (the streaming, validated JsonCollection reader) and
:mod:`.writer` (atomic, resumable JsonVectorCollection output)."""
