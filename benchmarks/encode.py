"""Encoding speed: the package's ``MilcoEncoder`` against MILCO written the way the authors' code runs.

Both sides get the same random-weight model and the same random token ids (``<s>``, pieces,
``</s>``, lengths drawn uniformly from each ``--lengths`` range) in one process, and must return
the same sparse vectors (checked: largest relative L2 difference per text, within the fp32 or
bf16 tolerance). Timed is token ids in, one sparse vector (both views) per text out:

* package: ``MilcoEncoder.encode_token_ids`` (texts sorted by length, no rounding of the padding,
  head on real tokens only with a running max, non-zeros picked on the device). On CUDA its
  weights are bf16; on the CPU fp32 (``--dtype bf16``: bf16 weights);
* reference: batches in input order padded to a multiple of 32, the backbone and the head under
  bf16 autocast on CUDA (fp32 weights; on the CPU in ``--reference-dtype``, by default the package's:
  fp32, or bf16 autocast), the
  full ``[B, L, 30522]`` logits, a masked max, ``log1p(relu)``, the echo weights scattered into a
  dense ``[B, 280524]`` tensor and ``to_sparse()``.

Each call encodes ``--batches`` batches' worth of texts at once (``python -m
pyserini_milco.encode`` hands the encoder 4 batches at a time). One untimed warm-up call of each
side precedes ``--repeats`` timed calls, alternated between the two sides; the medians are
reported. Useful tokens are the texts' own tokens (no padding). FLOPs per useful token count the
backbone's matrix products and attention over the text's own length, the connector, the head and
the echo layer (2 FLOPs per multiply-add). The model FLOP utilisation (MFU) is that over
``--peak-tflops``: on CUDA by default the datasheet's dense bf16 peak (H100/H200 SXM: 989 TFLOP/s,
used when the GPU's name says so), on the CPU a 2048x2048 matrix product measured at the start of
the run in the package's dtype and thread count. A CPU without native bf16 (AVX512-BF16 or AMX;
``pyserini_milco.encoding.cpu.native_bf16``) only emulates bf16 products, so there no bf16 peak is
measured and no bf16 MFU reported.

Architectures (weights random, seeded): ``mini`` = milco-mini's shapes (e5-small BERT 12x384 over
250,037 pieces, head 128 wide over 30,522), ``full`` = the paper's 560M model (XLM-R large
24x1024, head 768 wide over 30,522, echo), ``tiny`` for tests. The decoder bias is shifted so that
about ``--pivot-terms`` pivot entries per text are positive, as in a trained model (with the
random initialisation nearly all 30,522 would be, which would make the sparse conversion
unrealistically heavy).

Examples (from the repository root)::

    python -m benchmarks.encode --device cpu --arch mini --lengths 64-256 --batch-sizes 32
    python -m benchmarks.encode --device cuda --arch full            # H100/H200: the whole grid
    python -m benchmarks.encode --device cpu --arch mini --profile   # where the package's time goes
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from pyserini_milco.encoding.cpu import native_bf16
from pyserini_milco.encoding.encoder import MilcoEncoder, batch_to_vectors, pad_sequences, split_rows
from pyserini_milco.encoding.terms import SparseVector
from pyserini_milco.modeling.config import MilcoConfig
from pyserini_milco.modeling.model import MilcoModel, MilcoOutput

from .common import machine, median, set_threads, timed, write_json

BOS, PAD, EOS = 0, 1, 2
#: First id of an ordinary piece (XLM-R: 0-3 are <s>, <pad>, </s>, <unk>).
FIRST_PIECE = 4
#: The release pads every batch to a multiple of this many tokens.
REFERENCE_PAD_MULTIPLE = 32
#: Dense bf16 peak of the chips whose name contains the key (NVIDIA's datasheet, SXM, no sparsity).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0}
#: Largest relative L2 difference per text allowed between package and reference.
TOLERANCE = {"fp32": 1e-4, "bf16": 5e-2}


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The shapes of a MILCO model (weights are drawn at random)."""

    backbone: dict[str, Any]
    head_width: int
    en_vocab: int = 30522
    m_vocab: int = 250002

    def config(self) -> MilcoConfig:
        """A MilcoConfig with these shapes and the LexEcho head."""
        return MilcoConfig(m_hidden_size=self.backbone["hidden_size"], en_hidden_size=self.head_width,
                           en_vocab_size=self.en_vocab, m_vocab_size=self.m_vocab, echo=True,
                           backbone_config=dict(self.backbone))


ARCHITECTURES = {
    "tiny": Architecture(dict(model_type="xlm-roberta", vocab_size=1000, hidden_size=32, num_hidden_layers=2,
                              num_attention_heads=2, intermediate_size=64, max_position_embeddings=1026,
                              pad_token_id=PAD), head_width=16, en_vocab=500, m_vocab=1000),
    "mini": Architecture(dict(model_type="bert", vocab_size=250037, hidden_size=384, num_hidden_layers=12,
                              num_attention_heads=12, intermediate_size=1536, max_position_embeddings=512,
                              pad_token_id=PAD), head_width=128),
    "full": Architecture(dict(model_type="xlm-roberta", vocab_size=250002, hidden_size=1024, num_hidden_layers=24,
                              num_attention_heads=16, intermediate_size=4096, max_position_embeddings=8194,
                              type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=PAD), head_width=768),
}


class IdTokenizer:
    """Stands in for the multilingual tokenizer: the inputs are token ids already, so the encoder
    only needs the padding id and names for the pieces (``p<id>``)."""

    pad_token_id = PAD

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        """Piece names of ``ids``."""
        return [f"p{i}" for i in ids]


def parse_range(text: str) -> tuple[int, int]:
    """``"64-256"`` → ``(64, 256)`` (token counts, special tokens included)."""
    low, sep, high = text.partition("-")
    if not sep or not low.isdigit() or not high.isdigit() or not 3 <= int(low) <= int(high):
        raise argparse.ArgumentTypeError(f"{text!r}: expected LOW-HIGH token counts with 3 <= LOW <= HIGH, e.g. 64-256")
    return int(low), int(high)


def random_sequences(count: int, lengths: tuple[int, int], vocab: int, seed: int) -> list[list[int]]:
    """``count`` token-id lists framed ``<s> … </s>`` as XLM-R's tokenizer frames a text, with
    lengths drawn uniformly from ``lengths`` (inclusive) and random pieces from the vocabulary."""
    generator = torch.Generator().manual_seed(seed)
    sizes = torch.randint(lengths[0], lengths[1] + 1, (count,), generator=generator).tolist()
    return [[BOS, *torch.randint(FIRST_PIECE, vocab, (n - 2,), generator=generator).tolist(), EOS] for n in sizes]


@torch.no_grad()
def calibrate_pivot_bias(model: MilcoModel, sequences: Sequence[Sequence[int]], terms: int) -> None:
    """Shift the decoder bias so that about ``terms`` pivot entries per text are positive."""
    ids, mask = pad_sequences(sequences, PAD)
    device = model.projector.weight.device
    ids, mask = ids.to(device), mask.to(device)
    logits = model.pivot_max_logits(model.hidden_states(ids, mask), mask, relu=False)
    threshold = logits.topk(terms, dim=1).values[:, -1].mean()
    model.mlm_head.predictions.bias -= threshold


def build_model(arch: Architecture, device: torch.device, calibration: Sequence[Sequence[int]], terms: int,
                seed: int) -> MilcoModel:
    """A seeded random-weight fp32 model on ``device`` (initialised there: fast on a GPU) with a
    calibrated decoder bias."""
    torch.manual_seed(seed)
    with device:
        model = MilcoModel(arch.config()).eval()
    calibrate_pivot_bias(model, calibration, terms)
    return model


def package_encoder(model: MilcoModel, arch: Architecture, device: torch.device, dtype: str,
                    compile_backbone: bool) -> MilcoEncoder:
    """The package's encoder over a copy of ``model`` (it casts its model's weights in place)."""
    cast = torch.bfloat16 if dtype == "bf16" else None
    encoder = MilcoEncoder(copy.deepcopy(model), IdTokenizer(arch.m_vocab), [f"w{i}" for i in range(arch.en_vocab)],
                           device=device, dtype=cast)
    if compile_backbone:
        encoder.model.m_model = torch.compile(encoder.model.m_model, dynamic=True)
    return encoder


class ReferenceEncoder:
    """MILCO encoded the straightforward way the authors' code does (see the module docstring)."""

    def __init__(self, model: MilcoModel, autocast: bool) -> None:
        self.model = model
        self.device = model.projector.weight.device
        self.autocast = autocast
        self.pivot_size = model.config.en_vocab_size
        self.dimension = model.config.en_vocab_size + model.config.m_vocab_size

    def encode(self, sequences: Sequence[Sequence[int]], batch_size: int) -> list[SparseVector]:
        """One vector per text, batches taken in input order."""
        vectors: list[SparseVector] = []
        for start in range(0, len(sequences), batch_size):
            vectors += self.encode_batch(sequences[start:start + batch_size])
        return vectors

    @torch.no_grad()
    def encode_batch(self, batch: Sequence[Sequence[int]]) -> list[SparseVector]:
        """Full logits, masked max, dense vectors, ``to_sparse``."""
        ids, mask = pad_sequences(batch, PAD, REFERENCE_PAD_MULTIPLE)
        ids, mask = ids.to(self.device), mask.to(self.device)
        model, head = self.model, self.model.mlm_head.predictions
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            hidden = model.m_model(input_ids=ids, attention_mask=mask).last_hidden_state
            states = head.transform(nn.functional.gelu(model.projector(hidden)))
            logits = nn.functional.linear(states, head.decoder.weight, head.bias)
            pivot = torch.log1p(torch.relu((logits * mask.unsqueeze(-1)).max(dim=1).values))
            source = torch.relu(model.echo(hidden).squeeze(-1)) * mask * model.scale
        dense = torch.zeros(len(batch), self.dimension, device=self.device)
        dense[:, :self.pivot_size] = pivot.float()
        dense[:, self.pivot_size:].scatter_add_(1, ids, source.float())
        return split_rows(dense.to_sparse())

    def logits_bytes(self, batch: int, longest: int) -> int:
        """Memory of the ``[B, L, Ve]`` logits and their masked copy for a batch."""
        padded = -(-longest // REFERENCE_PAD_MULTIPLE) * REFERENCE_PAD_MULTIPLE
        return 2 * batch * padded * self.pivot_size * (2 if self.autocast else 4)


def relative_error(got: SparseVector, want: SparseVector) -> float:
    """``|got - want| / |want|`` (L2) over the union of their entries."""
    union = np.union1d(got.indices, want.indices)
    a, b = np.zeros(len(union)), np.zeros(len(union))
    a[np.searchsorted(union, got.indices)] = got.values
    b[np.searchsorted(union, want.indices)] = want.values
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def max_relative_error(got: Sequence[SparseVector], want: Sequence[SparseVector]) -> float:
    """The worst text's relative error; the two sides must return one vector per text."""
    if len(got) != len(want):
        raise AssertionError(f"package returned {len(got)} vectors, reference {len(want)}")
    return max(relative_error(g, w) for g, w in zip(got, want))


def text_flops(config: MilcoConfig, length: int) -> float:
    """Model FLOPs to encode one text of ``length`` tokens (2 per multiply-add, no padding)."""
    backbone = config.backbone_config
    hidden, layers = backbone["hidden_size"], backbone["num_hidden_layers"]
    per_layer = 4 * hidden * hidden + 2 * hidden * backbone["intermediate_size"] + 2 * length * hidden
    head = config.m_hidden_size * config.en_hidden_size + config.en_hidden_size ** 2 \
        + config.en_hidden_size * config.en_vocab_size + config.m_hidden_size
    return 2.0 * length * (layers * per_layer + head)


def cpu_matmul_tflops(dtype: str, size: int = 2048, repeats: int = 3) -> float:
    """The CPU's practical peak: TFLOP/s of a ``size``³ matrix product in ``dtype`` with the torch
    threads set, best of ``repeats`` (no datasheet figure fits a shared virtual CPU)."""
    cast = torch.bfloat16 if dtype == "bf16" else torch.float32
    a, b = torch.randn(size, size, dtype=cast), torch.randn(size, size, dtype=cast)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b))[0] for _ in range(repeats))
    return 2 * size ** 3 / best / 1e12


def peak_tflops(device: torch.device, given: float | None, dtype: str) -> float | None:
    """The peak the utilisation is measured against: ``given``; on a GPU its dense bf16 datasheet
    peak looked up by name (None if unknown); on the CPU a matrix product measured in ``dtype``
    (None for bf16 on a CPU that only emulates it: an emulated peak would make any MFU meaningless)."""
    if given is not None:
        return given
    if device.type == "cpu":
        if dtype == "bf16" and not native_bf16():
            print("this CPU has no native bf16 (AVX512-BF16 or AMX): no bf16 peak, no MFU", file=sys.stderr)
            return None
        return cpu_matmul_tflops(dtype)
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in name), None)


@dataclasses.dataclass(frozen=True)
class Setup:
    """What every configuration of a run shares."""

    arch: Architecture
    device: torch.device
    dtype: str
    reference_dtype: str
    batches: int
    repeats: int
    seed: int
    peak: float | None
    memory_limit: float


def run_config(setup: Setup, encoder: MilcoEncoder, reference: ReferenceEncoder, lengths: tuple[int, int],
               batch: int) -> dict[str, Any]:
    """Time both sides on one (lengths, batch) configuration and check that they agree."""
    sequences = random_sequences(batch * setup.batches, lengths, setup.arch.m_vocab, setup.seed + lengths[0] + batch)
    sides = {"package": lambda: encoder.encode_token_ids(sequences, batch_size=batch),
             "reference": lambda: reference.encode(sequences, batch)}
    needed = reference.logits_bytes(batch, lengths[1]) / 2 ** 30
    if needed > setup.memory_limit:
        print(f"  reference skipped for {lengths[0]}-{lengths[1]} x{batch}: its logits need {needed:.1f} GiB "
              f"(> --reference-memory-gib {setup.memory_limit:g})", file=sys.stderr)
        del sides["reference"]
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    outputs: dict[str, list[SparseVector]] = {}
    for side in sides.values():  # warm-up
        side()
    for _ in range(setup.repeats):
        for name, side in sides.items():
            elapsed, outputs[name] = timed(side, setup.device.type)
            seconds[name].append(elapsed)
    return summarize(setup, encoder.model.config, sequences, batch, lengths, seconds, outputs)


def summarize(setup: Setup, config: MilcoConfig, sequences: Sequence[Sequence[int]], batch: int,
              lengths: tuple[int, int], seconds: dict[str, list[float]],
              outputs: dict[str, list[SparseVector]]) -> dict[str, Any]:
    """One result row: speed of each side, ratio, FLOP rate or utilisation, agreement."""
    tokens = sum(len(s) for s in sequences)
    flops = sum(text_flops(config, len(s)) for s in sequences)
    row: dict[str, Any] = {"lengths": f"{lengths[0]}-{lengths[1]}", "batch": batch, "docs": len(sequences),
                           "useful_tokens": tokens,
                           "terms_per_doc": float(np.mean([len(v) for v in outputs["package"]]))}
    for name, times in seconds.items():
        best = median(times)
        row[name] = {"seconds": best, "docs_per_s": len(sequences) / best, "tokens_per_s": tokens / best,
                     "gflops": flops / best / 1e9, "mfu": flops / best / (setup.peak * 1e12) if setup.peak else None,
                     "repeats": times}
    if "reference" in outputs:
        row["ratio"] = row["reference"]["seconds"] / row["package"]["seconds"]
        row["max_relative_error"] = max_relative_error(outputs["package"], outputs["reference"])
        row["agrees"] = row["max_relative_error"] <= max(TOLERANCE[setup.dtype], TOLERANCE[setup.reference_dtype])
    return row


def format_row(row: dict[str, Any]) -> str:
    """One printed line of results."""
    def side(name: str) -> str:
        if name not in row:
            return f"{name} skipped"
        s = row[name]
        rate = f"{s['gflops']:.1f} GFLOP/s" + (f" MFU {s['mfu']:.0%}" if s["mfu"] is not None else "")
        return f"{name} {s['docs_per_s']:.1f} docs/s {s['tokens_per_s']:.0f} tok/s {rate}"

    head = f"{row['lengths']:>9} x{row['batch']:<4} {row['docs']} docs {row['terms_per_doc']:.0f} terms/doc | "
    tail = ""
    if "ratio" in row:
        tail = f" | ratio {row['ratio']:.2f}x | max rel. diff {row['max_relative_error']:.1e}" \
               f" {'ok' if row['agrees'] else 'MISMATCH'}"
    return head + side("package") + " | " + side("reference") + tail


def profile_package(encoder: MilcoEncoder, sequences: Sequence[Sequence[int]], device: str) -> dict[str, float]:
    """Seconds of each stage of the package on one batch of ``sequences``, after a warm-up call."""
    model = encoder.model
    encoder.encode_token_ids(sequences, batch_size=len(sequences))
    stages: dict[str, float] = {}
    with torch.inference_mode():
        stages["pad + copy"], (ids, mask) = timed(
            lambda: tuple(t.to(encoder.device) for t in pad_sequences(sequences, PAD)), device)
        stages["backbone"], states = timed(lambda: model.token_states(ids, mask), device)
        stages["pivot head + max"], pivot = timed(lambda: model.pivot_view(states, mask), device)
        stages["source view"], source = timed(lambda: model.source_view(states, mask), device)
        output = MilcoOutput(pivot=pivot, source=source)
        stages["sparse conversion"], _ = timed(
            lambda: batch_to_vectors(output, ids, encoder.pivot_size, encoder.dimension), device)
    return stages


def profile_config(setup: Setup, encoder: MilcoEncoder, lengths: tuple[int, int], batch: int) -> dict[str, Any]:
    """One profile row: the package's stages on one batch of random texts."""
    sequences = random_sequences(batch, lengths, setup.arch.m_vocab, setup.seed)
    return {"lengths": f"{lengths[0]}-{lengths[1]}", "batch": batch,
            "seconds": profile_package(encoder, sequences, setup.device.type)}


def format_profile(row: dict[str, Any]) -> str:
    """One printed line of a profile."""
    total = sum(row["seconds"].values())
    stages = ", ".join(f"{name} {seconds:.3f} s ({seconds / total:.0%})" for name, seconds in row["seconds"].items())
    return f"{row['lengths']:>9} x{row['batch']:<4} package stages: {stages}"


def check_device(name: str) -> torch.device:
    """The torch device, or a clear exit when CUDA is asked for and missing."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda needs a CUDA GPU and a CUDA build of torch; none is available here "
                         f"(torch {torch.__version__}). Run it on a GPU machine, or use --device cpu.")
    return device


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.encode", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES), default=None,
                        help="model shapes (default: mini on the CPU, full on CUDA)")
    parser.add_argument("--lengths", type=parse_range, nargs="+", default=[(64, 256), (400, 512)],
                        help="text length ranges in tokens, special tokens included")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128], help="texts per forward pass")
    parser.add_argument("--batches", type=int, default=4, help="batches per encode call (the package sorts within it)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per side (the median is reported)")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default=None,
                        help="CPU precision of the package (bf16: bf16 weights); CUDA is always bf16")
    parser.add_argument("--reference-dtype", choices=["fp32", "bf16"], default=None,
                        help="CPU precision of the reference (bf16: bf16 autocast; default: the package's)")
    parser.add_argument("--pivot-terms", type=int, default=256, help="positive pivot entries per text to aim for")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="peak for the utilisation (default: 989 dense bf16 on H100/H200; on the CPU a "
                             "2048x2048 matrix product measured in the package's dtype)")
    parser.add_argument("--reference-memory-gib", type=float, default=None,
                        help="skip the reference where its full logits need more (default: 6 on the CPU, "
                             "80%% of the GPU's memory)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the package's backbone (dynamic shapes; GPU option, not measured on CPU)")
    parser.add_argument("--profile", action="store_true", help="print the package's time per stage on one batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the token ids")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser


def make_setup(args: argparse.Namespace, device: torch.device) -> Setup:
    """Resolve the defaults that depend on the device."""
    arch = ARCHITECTURES[args.arch or ("full" if device.type == "cuda" else "mini")]
    dtype = "bf16" if device.type == "cuda" else args.dtype or "fp32"
    reference_dtype = "bf16" if device.type == "cuda" else args.reference_dtype or dtype
    memory = args.reference_memory_gib
    if memory is None:
        memory = 0.8 * torch.cuda.get_device_properties(device).total_memory / 2 ** 30 if device.type == "cuda" else 6.0
    return Setup(arch, device, dtype, reference_dtype, args.batches, args.repeats, args.seed,
                 peak_tflops(device, args.peak_tflops, dtype), memory)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the model once, then measure every (lengths, batch) configuration."""
    device = check_device(args.device)
    set_threads(args.threads)
    setup = make_setup(args, device)
    calibration = random_sequences(8, args.lengths[0], setup.arch.m_vocab, setup.seed)
    model = build_model(setup.arch, device, calibration, args.pivot_terms, setup.seed)
    encoder = package_encoder(model, setup.arch, device, setup.dtype, args.compile)
    reference = ReferenceEncoder(model, autocast=setup.reference_dtype == "bf16")
    print(f"machine: {machine(args.device)}; arch {args.arch or 'default'}, package {setup.dtype}, "
          f"reference {setup.reference_dtype}, "
          f"peak {'not measured' if setup.peak is None else f'{setup.peak:.3f} TFLOP/s'}", file=sys.stderr)
    results: dict[str, Any] = {"machine": machine(args.device), "setup": {**vars(args), "dtype": setup.dtype,
                               "reference_dtype": setup.reference_dtype, "peak_tflops": setup.peak}, "rows": []}
    for lengths in args.lengths:
        for batch in args.batch_sizes:
            if args.profile:
                row = profile_config(setup, encoder, lengths, batch)
                print(format_profile(row), flush=True)
            else:
                row = run_config(setup, encoder, reference, lengths, batch)
                print(format_row(row), flush=True)
            results["rows"].append(row)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when every compared configuration agreed, 1 otherwise."""
    args = build_parser().parse_args(argv)
    results = run(args)
    write_json(args.json, results)
    return 0 if all(row.get("agrees", True) for row in results["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
