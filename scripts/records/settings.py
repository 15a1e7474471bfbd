"""The settings a reader of a dashboard looks for first, under the names each library uses.

A Trainer says `per_device_train_batch_size`, Lightning says whatever the LightningModule's
`save_hyperparameters()` saw (`batch_size`, `lr`), W&B whatever was put in `wandb.config`, this
project `batch_size`. Each setting lists the keys it goes by, in order of preference; the
dashboard shows the first key a run's configuration holds, under that key.
"""
from __future__ import annotations

#: (setting, keys it goes by, in order of preference).
SETTINGS = (
    ("model", ("model", "model_name", "model_name_or_path", "_name_or_path", "model_type",
               "architecture", "arch", "architectures")),
    ("learning rate", ("learning_rate", "lr", "max_lr", "peak_lr", "base_lr", "optimizer.lr")),
    ("batch size", ("batch_size", "per_device_train_batch_size", "train_batch_size",
                    "global_batch_size", "micro_batch_size", "bs")),
    ("epochs", ("num_train_epochs", "max_epochs", "epochs", "n_epochs")),
    ("steps", ("max_steps", "steps", "num_steps", "total_steps", "train_steps", "iterations")),
    ("weight decay", ("weight_decay", "wd", "optimizer.weight_decay")),
    ("seed", ("seed", "random_seed", "seed_everything")),
)
#: Settings shown next, before any other key (alphabetical leftovers come last): how the
#: schedule, accumulation, optimizer and precision were set (a Trainer's TrainingArguments),
#: and what a method's run targets (this project's `mode`, `rate`, `p`, `train_fraction`).
SECONDARY = ("rate", "mode", "p", "train_fraction", "lr_scheduler_type", "warmup_steps",
             "warmup_ratio", "gradient_accumulation_steps", "optim", "optimizer", "bf16", "fp16",
             "task")
#: Keys that differ between runs without being a setting of the experiment.
NOT_SETTINGS = ("name", "run_name", "output_dir", "logging_dir", "code_hash", "machine",
                "wall_time_s", "hub_token", "_wandb", "wandb_version", "global_step",
                "best_metric", "best_model_checkpoint")
#: Keys that only choose random numbers: runs differing in these alone are one group.
SEED_KEYS = ("seed", "random_seed", "seed_everything", "data_seed", "trial")


def flatten(config: dict, prefix: str = "") -> dict:
    """{'optimizer': {'lr': 1}} -> {'optimizer.lr': 1}; lists stay values."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def headline(config: dict) -> list[tuple[str, str, object]]:
    """[(setting, key as the run names it, value)] for the settings the run's configuration
    holds, in SETTINGS order; 'epochs' and 'steps' both where both are set (a Trainer sets
    num_train_epochs even when max_steps decides)."""
    flat = flatten(config)
    found = []
    for setting, keys in SETTINGS:
        for key in keys:
            value = flat.get(key)
            if value is not None and value != "" and not isinstance(value, dict):
                if isinstance(value, list):
                    if not value or len(value) > 3:
                        continue
                    value = ", ".join(str(v) for v in value)
                found.append((setting, key, value))
                break
    return found


def headline_value(config: dict, key: str):
    """The value of `key` in `config`, or of the setting it names under any of its keys
    (headline_value(config, "model") finds `_name_or_path` in a Trainer's folder)."""
    flat = flatten(config)
    if key in flat:
        return flat[key]
    for setting, keys in SETTINGS:
        if key == setting.replace(" ", "_") or key in keys:
            for candidate in keys:
                if flat.get(candidate) is not None:
                    return flat[candidate]
    return None
