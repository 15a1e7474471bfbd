"""Pre-training the toy model's base MLP and fine-tuning it, with LoRA or in full.

All runs are full-batch with :class:`models.mlp.Adam` (default; the LoRA paper trains with
AdamW) or :class:`models.mlp.SGD`, so a run is deterministic given its seed.  LoRA training
hands only the adapters' ``A`` and ``B`` to the optimizer; the base is never written.
Pre-training (:func:`pretrain`) learns the lexical-polarity task of
:func:`numerics.lora.data.pretraining_task`, early-stopped on its validation split; pass one
:class:`Pretrained` to every experiment to pre-train only once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models import lora_mlp
from models.lora_mlp import NO_ADAPTERS, Adapters, LoRAConfig
from models.mlp import SGD, Adam, Params, init_params
from numerics.lora.data import PretrainingTask, pretraining_task

Optimizer = Adam | SGD

LR = 1e-2
"""Adam learning rate for pre-training and both kinds of fine-tuning."""
DEFAULT_OPTIMIZER = Adam(lr=LR)
PRETRAIN_MAX_STEPS = 200
"""Upper bound for pre-training; :func:`pretrain` keeps the step with the lowest validation
loss."""
FINETUNE_STEPS = 200
"""Full-batch steps of every fine-tuning run.  Chosen by 5-fold cross-validation on the 96
sentiment *train* sentences (fold = index mod 5; LoRA r = 4, alpha = 8 and full fine-tuning;
50 / 100 / 200 / 400 steps at the learning rates 3e-3 / 1e-2 / 3e-2).  At lr 1e-2 the held-out
accuracy was 0.99 / 1.00 / 1.00 / 1.00 (LoRA) and 0.94 / 1.00 / 1.00 / 1.00 (full), the
held-out cross-entropy 0.097 / 0.012 / 0.005 / 0.003 (LoRA) and 0.217 / 0.017 / 0.003 / 0.001
(full): 200 steps is past the accuracy plateau, 400 gains little.  :data:`LR` = 1e-2 kept (3e-3
needed 200 steps to plateau, 3e-2 reached it within 50).  The test split played no part."""


@dataclass(frozen=True)
class LoRARun:
    """A LoRA training run: final adapters, losses before each step and after the last
    (``steps + 1``).

    ``delta_norms[t, j] = ||Delta W||_F`` of the ``j``-th adapted layer after ``t`` steps;
    ``eval_loss`` is the loss on the evaluation set at the same points (empty without one).
    """

    config: LoRAConfig
    adapters: Adapters
    loss: np.ndarray
    eval_loss: np.ndarray
    delta_norms: np.ndarray


def train_lora(base: Params, config: LoRAConfig, x: np.ndarray, y: np.ndarray, *,
               seed: int = 0, steps: int = FINETUNE_STEPS,
               optimizer: Optimizer = DEFAULT_OPTIMIZER, eval_x: np.ndarray | None = None,
               eval_y: np.ndarray | None = None) -> LoRARun:
    """Full-batch LoRA fine-tuning: only ``A`` and ``B`` are given to the optimizer; ``base``
    is never written."""
    adapters = lora_mlp.init_adapters(base, config, seed)
    state = optimizer.init(adapters)
    losses, eval_losses, norms = [], [], []

    def record() -> None:
        norms.append([np.linalg.norm(delta) for delta in lora_mlp.delta_weights(adapters, config)])
        if eval_x is not None:
            eval_losses.append(lora_mlp.evaluate(base, adapters, config, eval_x, eval_y).loss)

    for _ in range(steps):
        record()
        loss, grads = lora_mlp.loss_and_grads(base, adapters, config, x, y)
        losses.append(loss)
        adapters, state = optimizer.step(adapters, grads.adapters, state)
    record()
    losses.append(lora_mlp.evaluate(base, adapters, config, x, y).loss)
    return LoRARun(config=config, adapters=adapters, loss=np.array(losses),
                   eval_loss=np.array(eval_losses),
                   delta_norms=np.array(norms).reshape(steps + 1, len(config.layers)))


@dataclass(frozen=True)
class FullRun:
    """A full fine-tuning run: every ``W`` and ``b`` trained; losses before each step and after
    the last."""

    params: Params
    loss: np.ndarray
    eval_loss: np.ndarray


def train_full(base: Params, x: np.ndarray, y: np.ndarray, *, steps: int = FINETUNE_STEPS,
               optimizer: Optimizer = DEFAULT_OPTIMIZER, eval_x: np.ndarray | None = None,
               eval_y: np.ndarray | None = None) -> FullRun:
    """Full-batch full fine-tuning of all base parameters (gradients from
    :func:`models.lora_mlp.backward`)."""
    params = [{"W": layer["W"].copy(), "b": layer["b"].copy()} for layer in base]
    state = optimizer.init(params)
    losses, eval_losses = [], []
    for _ in range(steps):
        if eval_x is not None:
            eval_losses.append(lora_mlp.evaluate(params, [], NO_ADAPTERS, eval_x, eval_y).loss)
        loss, grads = lora_mlp.loss_and_grads(params, [], NO_ADAPTERS, x, y)
        losses.append(loss)
        params, state = optimizer.step(params, grads.base, state)
    if eval_x is not None:
        eval_losses.append(lora_mlp.evaluate(params, [], NO_ADAPTERS, eval_x, eval_y).loss)
    losses.append(lora_mlp.evaluate(params, [], NO_ADAPTERS, x, y).loss)
    return FullRun(params=params, loss=np.array(losses), eval_loss=np.array(eval_losses))


@dataclass(frozen=True)
class Pretrained:
    """The pre-trained base model and how well it learned the synthetic task.

    ``loss`` / ``val_loss``: training / validation loss before each step and after the last
    (``max_steps + 1`` points); ``params`` are those after ``best_step`` steps, where the
    validation loss is lowest (early stopping).
    """

    params: Params
    loss: np.ndarray
    val_loss: np.ndarray
    best_step: int
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    task: PretrainingTask
    seed: int


def pretrain(seed: int = 0, max_steps: int = PRETRAIN_MAX_STEPS,
             optimizer: Optimizer = DEFAULT_OPTIMIZER) -> Pretrained:
    """Full-batch training of the base MLP (He init, seed ``seed``) on
    :func:`~numerics.lora.data.pretraining_task` ``(seed)``, early-stopped.

    With seed 0 the validation loss is lowest after 35 steps (0.151; accuracy 0.93 train and
    validation, 0.91 test -- the label noise caps it).  Training on to 300 steps raises the
    validation loss to 0.181 and makes the base more confident in its mistakes: its
    cross-entropy on the sentiment train sentences grows from 1.67 (step 35) to 2.26 nats.
    """
    task = pretraining_task(seed)
    params = init_params(list(lora_mlp.SIZES), seed, activation=lora_mlp.ACTIVATION)
    state = optimizer.init(params)
    losses, val_losses = [], []
    best, best_step = params, 0
    for step in range(max_steps + 1):
        val_losses.append(lora_mlp.evaluate(params, [], NO_ADAPTERS, task.x_val, task.y_val).loss)
        if val_losses[-1] < val_losses[best_step]:
            best, best_step = params, step
        loss, grads = lora_mlp.loss_and_grads(params, [], NO_ADAPTERS, task.x_train,
                                              task.y_train)
        losses.append(loss)
        if step < max_steps:
            params, state = optimizer.step(params, grads.base, state)

    def accuracy(x: np.ndarray, y: np.ndarray) -> float:
        return lora_mlp.evaluate(best, [], NO_ADAPTERS, x, y).accuracy

    return Pretrained(params=best, loss=np.array(losses), val_loss=np.array(val_losses),
                      best_step=best_step, train_accuracy=accuracy(task.x_train, task.y_train),
                      val_accuracy=accuracy(task.x_val, task.y_val),
                      test_accuracy=accuracy(task.x_test, task.y_test), task=task, seed=seed)
