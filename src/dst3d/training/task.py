"""What a downstream task hands the generic loop (:mod:`dst3d.training.loop`).

A task is any object with these methods; the loop owns everything else (device, threads' use, batch
order, augmentation seeds, optimiser, learning-rate schedule, the epoch rows). The pose + classification
task (:class:`dst3d.training.pose.PoseTask`) is one; ``tests/test_training_tasks.py`` plugs in another.

How the loop uses it, per training batch::

    batch = next(loader)                      # from task.dataset(...): dict of collated tensors
    outputs = model(normalize(batch["image"]))
    total, parts = task.loss(model, outputs, batch, cfg)   # parts: named terms for the learning curves

and per evaluation batch ``task.predict_batch(model, outputs, batch)`` -> numpy arrays, concatenated over
the batches and handed to ``task.predictions(samples, arrays)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch.utils.data import Dataset

from dst3d.training.data import PoseSample
from dst3d.training.params import FitConfig, PoseModelConfig


@runtime_checkable
class Task(Protocol):
    """A downstream task on annotated image samples (:class:`~dst3d.training.data.PoseSample`)."""

    def build_model(self, cfg: PoseModelConfig, num_categories: int, seed: int) -> torch.nn.Module:
        """A freshly initialised network, seeded."""
        ...

    def dataset(self, model: Any, samples: Sequence[PoseSample], cfg: FitConfig, seed: int, train: bool,
                cache: np.ndarray | None) -> Dataset:
        """Items for ``samples``: a dict with at least ``image`` (uint8 (S, S, 3)), indexable by
        ``(index, epoch)`` when ``train`` (augmenting from ``seed``) and by ``int`` otherwise.
        :class:`~dst3d.training.data.ImageDataset` with the task's ``targets`` is all most tasks need."""
        ...

    def loss(self, model: Any, outputs: Any, batch: dict[str, Any], cfg: FitConfig
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(the scalar to minimise, its named parts) for one batch; each part becomes an epoch column."""
        ...

    def predict_batch(self, model: Any, outputs: Any, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """Per-sample numpy outputs of one evaluation batch (first axis = the batch)."""
        ...

    def predictions(self, samples: Sequence[PoseSample], outputs: dict[str, np.ndarray]) -> Any:
        """The task's predictions of ``samples`` from the concatenated batch outputs ({} when no samples)."""
        ...

    def metrics(self, samples: Sequence[PoseSample], pred: Any) -> dict[str, Any]:
        """JSON-able metrics of the predictions against the samples' annotations."""
        ...
