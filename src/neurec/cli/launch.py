"""The console scripts' entry points: each checks that its extra is installed before importing its command.

The core install is the scorer alone (numpy + onnxruntime); a command of the training stack run there would
otherwise die with "No module named 'torch'" from deep inside an import. Standard library only.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

# What each extra brings that its commands import first; checking these few is enough to name the extra.
EXTRAS = {"train": ("torch", "pandas", "hydra", "mlflow"), "serve": ("fastapi", "uvicorn")}


def _launch(prog: str, target: str, extra: str | None) -> None:
    missing = [m for m in EXTRAS.get(extra, ()) if importlib.util.find_spec(m) is None]
    if missing:
        print(f"{prog}: error: needs the '{extra}' extra (missing: {', '.join(missing)}); "
              f"install it with: pip install 'neurec[{extra}]'", file=sys.stderr)
        sys.exit(2)
    module, func = target.split(":")
    rc = getattr(importlib.import_module(module), func)()
    # An exit status, or None; anything else a command returns (a sweep objective) is not an error message.
    sys.exit(rc if rc is None or isinstance(rc, int) else 0)


def _command(prog: str, target: str, extra: str | None):
    def main() -> None:
        _launch(prog, target, extra)

    return main


train = _command("neurec-train", "neurec.cli.train:main", "train")
simulate = _command("neurec-simulate", "neurec.cli.simulate:main", "train")
demo = _command("neurec-demo", "neurec.cli.demo:main", "train")
data = _command("neurec-data", "neurec.cli.data:main", "train")
evaluate = _command("neurec-evaluate", "neurec.cli.evaluate:main", "train")
analyze = _command("neurec-analyze", "neurec.cli.analyze:main", "train")
abtest = _command("neurec-abtest", "neurec.cli.abtest:main", "train")
promote = _command("neurec-promote", "neurec.cli.promote:main", "train")
rank = _command("neurec-rank", "neurec.cli.rank:main", "train")
tune = _command("neurec-tune", "neurec.cli.tune:main", "train")
serve = _command("neurec-serve", "neurec.cli.serve:main", "serve")
recommend = _command("neurec-recommend", "neurec.cli.recommend:main", None)  # the core scorer is enough
