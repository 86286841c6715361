"""MILCO inside Pyserini and Java: :mod:`.plugin` (Pyserini encoders and their registration),
:mod:`.pyserini_io` (the corpus I/O swapped into ``pyserini.encode``), :mod:`.hook` (the ``.pth``
line of the import hook), :mod:`.java` (Java 21), :mod:`.pyserini_cli` and :mod:`.lucene` (the stock
index/search commands in a child process).

Nothing is imported here: the import hook imports :mod:`.java` before ``pyserini`` runs, and that
must stay cheap."""
