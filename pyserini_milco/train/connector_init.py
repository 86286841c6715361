"""Warm start of the connector: regress the teacher's token states from the backbone's.

A randomly initialised connector feeds the frozen English head vectors it was never trained on;
the stage-1 loss then first shrinks the connector's output until GELU zeroes it and every text
gets the same vector (a collapse seen here: one constant 600-term vector, chance-level matching).
Starting from a connector that already maps the backbone's states of English tokens onto the
teacher's (``gelu(W h + b) ≈ t``, fitted on tokens aligned by character offsets, ``<s>``↔``[CLS]``,
``</s>``↔``[SEP]``) avoids that. The fit uses cached states only, so it costs seconds.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm


def _covering_token(offsets: list[tuple[int, int]], char: int) -> int | None:
    """Index of the student token whose character span contains ``char``."""
    for index, (start, end) in enumerate(offsets):
        if start <= char < end:
            return index
    return None


def align_tokens(student_offsets: list[tuple[int, int]], teacher_offsets: list[tuple[int, int]],
                 student_length: int, teacher_length: int) -> list[tuple[int, int]]:
    """(student index, teacher index) pairs: specials first/last, words by their first character."""
    pairs = [(0, 0), (student_length - 1, teacher_length - 1)]
    for t_index, (start, end) in enumerate(teacher_offsets[:teacher_length]):
        if end > start:
            s_index = _covering_token(student_offsets[:student_length], start)
            if s_index is not None:
                pairs.append((s_index, t_index))
    return pairs


@torch.inference_mode()
def aligned_states(model, tokenizer, teacher, teacher_tokenizer, texts: list[str], max_length: int,
                   batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Backbone states ``[N, Hm]`` and teacher states ``[N, He]`` of aligned English tokens."""
    inputs, targets = [], []
    for start in tqdm(range(0, len(texts), batch_size), desc="aligning tokens", unit="batch"):
        batch = texts[start : start + batch_size]
        s = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt",
                      return_offsets_mapping=True)
        t = teacher_tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt",
                              return_offsets_mapping=True)
        hidden = model.hidden_states(s["input_ids"], s["attention_mask"])
        teacher_hidden = teacher.base_model(input_ids=t["input_ids"], attention_mask=t["attention_mask"]).last_hidden_state
        for row in range(len(batch)):
            pairs = align_tokens(s["offset_mapping"][row].tolist(), t["offset_mapping"][row].tolist(),
                                 int(s["attention_mask"][row].sum()), int(t["attention_mask"][row].sum()))
            rows_s, rows_t = zip(*pairs)
            inputs.append(hidden[row, list(rows_s)])
            targets.append(teacher_hidden[row, list(rows_t)])
    return torch.cat(inputs), torch.cat(targets)


def fit_connector(projector: torch.nn.Linear, inputs: torch.Tensor, targets: torch.Tensor,
                  steps: int = 400, lr: float = 1e-2, seed: int = 0) -> float:
    """Fit ``gelu(projector(h)) ≈ t`` by full-batch Adam; returns the final mean squared error."""
    inputs, targets = inputs.clone(), targets.clone()  # ordinary tensors (they come from inference mode)
    was_trainable = [p.requires_grad for p in projector.parameters()]
    projector.requires_grad_(True)
    optimizer = torch.optim.Adam(projector.parameters(), lr=lr)
    torch.manual_seed(seed)
    loss = torch.tensor(float("nan"))
    with torch.enable_grad():
        for _ in tqdm(range(steps), desc="fitting connector", unit="step"):
            loss = torch.nn.functional.mse_loss(torch.nn.functional.gelu(projector(inputs)), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    for param, flag in zip(projector.parameters(), was_trainable):
        param.requires_grad_(flag)
    return float(loss.detach())
