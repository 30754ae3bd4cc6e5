"""What each install weighs: the scorer core, the service, and the training stack, from the wheel of this checkout.

    .venv/bin/python scripts/bench_install.py --json install.json

Builds the wheel (pip wheel --no-deps), makes a fresh virtual environment per install (packages from the index or
pip's cache), and reports its size on disk and how long `import neurec.serving` takes there (median of five fresh
processes). The training stack is measured on the project's own .venv (everything, tests included) unless
--train-venv is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT = "import time; t = time.perf_counter(); import neurec.serving; print(time.perf_counter() - t)"


def source_copy(dest: Path) -> Path:
    """The checkout's build inputs, copied: setuptools leaves a build/ folder beside the sources it builds."""
    import shutil

    dest.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("src", "configs"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def import_seconds(python: Path, cwd: Path) -> float:
    runs = [float(subprocess.run([str(python), "-c", IMPORT], capture_output=True, text=True, check=True, cwd=cwd).stdout)
            for _ in range(5)]
    return statistics.median(runs)


def make_env(where: Path, wheel: Path, extra: str) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    subprocess.run([str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", target],
                   check=True)
    return where / "bin" / "python"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--train-venv", type=Path, default=ROOT / ".venv", help="an environment with neurec[train]")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="neurec-install-") as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "wheel", str(source_copy(tmp / "src")), "--no-deps",
                        "--no-build-isolation", "-q", "-w", str(tmp / "wheel")], check=True)
        (wheel,) = (tmp / "wheel").glob("neurec-*.whl")
        for name, extra in (("scorer (core)", ""), ("service ([serve])", "serve")):
            python = make_env(tmp / name.split()[0], wheel, extra)
            rows.append({"install": name, "size_mb": round(size_mb(tmp / name.split()[0]), 1),
                         "import_serving_s": round(import_seconds(python, tmp), 3)})
        train_python = args.train_venv / "bin" / "python"
        if train_python.exists():
            rows.append({"install": f"training ({args.train_venv.name}, all extras)", "size_mb": round(size_mb(args.train_venv), 1),
                         "import_serving_s": round(import_seconds(train_python, tmp), 3)})
    print("| install | size on disk (MB) | import neurec.serving (s, median of 5) |")
    print("|---|---:|---:|")
    for r in rows:
        print(f"| {r['install']} | {r['size_mb']:,.1f} | {r['import_serving_s']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
