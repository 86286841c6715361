"""Import hook that plugs MILCO into the stock Pyserini commands (loaded from ``pyserini_milco.pth``).

Python runs the ``.pth`` line at start-up; it only installs a finder on ``sys.meta_path``, which does
nothing until a ``pyserini`` module is imported (so other programs pay nothing):

* before ``pyserini`` runs, Java 21 is configured (:func:`pyserini_milco.integration.java.configure_java`)
  and, in a ``python -m pyserini.*`` command, the project's errors are set to show as one line,
  ``error: <message>``, instead of a traceback (:func:`pyserini_milco.errors.install_for_pyserini_commands`);
* after ``pyserini.encode`` has run, MILCO joins its encoder map and the atomic, streaming corpus I/O
  is swapped in;
* after ``pyserini.search.lucene._impact_searcher`` has run, ``--impact --encoder`` accepts MILCO;
* after ``pyserini.query_iterator`` has run, in a command whose ``--encoder`` is MILCO, the topics
  become the plan that the query encoder encodes ahead by (:mod:`pyserini_milco.integration.encode_ahead`).

Set ``PYSERINI_MILCO_DISABLE=1`` to switch the hook off. It lives outside the package so that the
start-up line does not import ``pyserini_milco`` itself.
"""
import importlib.abc
import importlib.machinery
import os
import sys

_BEFORE = {"pyserini": ("pyserini_milco.integration.java:configure_java",
                         "pyserini_milco.errors:install_for_pyserini_commands")}
_AFTER = {
    "pyserini.encode": ("pyserini_milco.baselines.registration:register_document_encoders",),
    "pyserini.search.lucene._impact_searcher": ("pyserini_milco.baselines.registration:register_impact_search",),
    "pyserini.query_iterator": ("pyserini_milco.integration.plugin:register_encode_ahead",),
}


def _call(targets):
    """Run each ``module:function``; only those modules are imported (the ones before pyserini need no torch)."""
    import importlib

    for target in targets:
        module, _, function = target.partition(":")
        getattr(importlib.import_module(module), function)()


class _Loader(importlib.abc.Loader):
    """Wraps the real loader to run our hook before or after the module's own code."""

    def __init__(self, loader, before=None, after=None):
        self._loader, self._before, self._after = loader, before, after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        if self._before:
            _call(self._before)
        self._loader.exec_module(module)
        if self._after:
            _call(self._after)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in _BEFORE and fullname not in _AFTER:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader, _BEFORE.get(fullname), _AFTER.get(fullname))
        return spec


def install(force=False):
    """Add the finder; ``PYSERINI_MILCO_DISABLE=1`` prevents it unless ``force`` (our own wrappers)."""
    if not force and os.environ.get("PYSERINI_MILCO_DISABLE", "").lower() in ("1", "true", "yes"):
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
