"""Which model a run trains: the class that the model config group names with `_target_`.

`configs/model/sasrec.yaml` names `neurec.models.purchase.PurchaseModel`; a second architecture is a class with
the same interface (see its docstring) and a config file naming it, not an edit of the pipeline. Checkpoints
record their class, so evaluation and resumption rebuild the architecture that was trained.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from neurec.errors import ConfigError

DEFAULT_MODEL = "neurec.models.purchase.PurchaseModel"
# What `_target_` must offer: the pipeline, the config checks and the exporter use nothing else.
INTERFACE = ("config_class", "config_derived", "config_extra", "from_data", "from_checkpoint", "checkpoint", "score_all")


def model_class(target: str) -> type[nn.Module]:
    """The class a dotted `_target_` names; ConfigError naming the problem when it is not a model class."""
    module_name, _, name = str(target).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name) if module_name else None
    except (ImportError, AttributeError):
        cls = None
    if cls is None:
        raise ConfigError(f"model._target_={target}: no such class (a dotted path like {DEFAULT_MODEL})")
    missing = [a for a in INTERFACE if not hasattr(cls, a)]
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or missing:
        raise ConfigError(f"model._target_={target}: not a neurec model (a torch module with {', '.join(INTERFACE)}; "
                          f"lacks {', '.join(missing) or 'nn.Module'})")
    return cls


def build_model(model_cfg: dict, data) -> nn.Module:
    """The model for a run: its class from `_target_` (the default when absent), built for this data."""
    kwargs = dict(model_cfg)
    cls = model_class(kwargs.pop("_target_", DEFAULT_MODEL))
    return cls.from_data(kwargs, data)


def load_model(path: str | Path, map_location: str = "cpu") -> nn.Module:
    """A checkpoint's model, as the class it was trained as (checkpoints from before classes were recorded are
    the default model)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return model_class(ckpt.get("model_class", DEFAULT_MODEL)).from_checkpoint(path, map_location=map_location)
