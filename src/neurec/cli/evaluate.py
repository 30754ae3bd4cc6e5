"""neurec-evaluate: a checkpoint or a registered model on any data config, logged as a new linked run."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from neurec.cli.config import ConfigError, build, hydra_app, output_dir
from neurec.cli.config_checks import check_evaluate_config


@hydra_app("neurec-evaluate", "evaluate")
def main(cfg: DictConfig) -> None:
    from neurec.cli.report import metrics_table, repeat_table
    from neurec.evaluation import evaluate_checkpoint
    from neurec.train.hardware import resolve_device

    resolved = check_evaluate_config(cfg)  # every problem at once, before the checkpoint or any data is read
    path = Path(cfg.checkpoint)
    if str(cfg.checkpoint).startswith("models:/"):
        path = registered_checkpoint(str(cfg.checkpoint), cfg.tracking.uri, output_dir(cfg))
    if not path.is_file():
        raise ConfigError(f"checkpoint={path}: no such file (a run's checkpoints/best.pt)")
    result = evaluate_checkpoint(
        path, build(cfg.data), build(cfg.tracking), output_dir(cfg), resolved,
        baselines=tuple(resolved["baselines"]), device=resolve_device(cfg.device), run_name=cfg.get("run_name"),
    )
    print(metrics_table(result.metrics))
    print(repeat_table(result.metrics))
    print(f"\nMLflow run: {result.run_id} (evaluates training run {result.training_run_id})")


def registered_checkpoint(spec: str, tracking_uri: str, out: Path) -> Path:
    """models:/NAME@ALIAS or models:/NAME/VERSION -> the torch checkpoint registered with that version."""
    from neurec.serving.registry import parse_model_uri
    from neurec.train.registry import CHECKPOINT_DIR, download_version, resolve_version

    try:
        ref = parse_model_uri(spec)
    except ValueError as exc:
        raise ConfigError(f"checkpoint={exc}") from None
    version = resolve_version(tracking_uri, ref.name, ref.alias or ref.version, by_alias=ref.alias is not None)
    folder = download_version(tracking_uri, ref.name, version, out / "registered_checkpoint", part=CHECKPOINT_DIR)
    found = sorted(folder.glob("*.pt"))
    if not found:
        raise ConfigError(f"{spec} (version {version}): no checkpoint registered with it")
    return found[0]


if __name__ == "__main__":
    main()
