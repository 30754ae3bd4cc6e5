"""The serving side must run in an image without the training stack."""

import subprocess
import sys

HEAVY = ("torch", "hydra", "omegaconf", "mlflow", "pandas")


def test_serving_imports_no_training_stack():
    code = (
        "import sys, neurec.serving, neurec.serving.scorer, neurec.cli.recommend\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"neurec.serving loaded {out.stdout.strip()}"
