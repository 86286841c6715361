"""pyserini-milco: MILCO multilingual learned sparse retrieval for Pyserini/Anserini.

Importing the package configures Java 21 (see :mod:`pyserini_milco.integration.java`); the model and encoder
are imported lazily so that ``import pyserini_milco`` stays cheap.
"""
from __future__ import annotations

from .integration.java import configure_java

configure_java()

__version__ = "0.1.0"
__all__ = ["MilcoEncoder", "MilcoModel", "MilcoConfig", "__version__"]


def __getattr__(name: str):
    if name == "MilcoEncoder":
        from .encoding.encoder import MilcoEncoder

        return MilcoEncoder
    if name == "MilcoModel":
        from .modeling.model import MilcoModel

        return MilcoModel
    if name == "MilcoConfig":
        from .modeling.config import MilcoConfig

        return MilcoConfig
    raise AttributeError(f"module 'pyserini_milco' has no attribute {name!r}")
