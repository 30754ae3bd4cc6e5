"""What users install: a wheel that trains outside a checkout, and a scorer install with numpy + onnxruntime only.

The wheel is built here with `pip wheel --no-deps`. The slim scorer test makes a fresh virtual environment and
installs the wheel's core dependencies from the package index (or pip's cache); it skips when no index can be
reached, and fails on anything else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "mlflow", "hydra", "omegaconf", "pandas", "pyarrow", "scipy", "fastapi")
SCORER_MB_TARGET = 250


def source_copy(dest: Path) -> Path:
    """What the wheel is built from, copied: setuptools leaves a build/ folder beside the sources it builds."""
    import shutil

    for name in ("pyproject.toml", "README.md"):
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    for name in ("src", "configs"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_listed_packages_are_the_source_tree_and_the_configs():
    listed = set(_project()["tool"]["setuptools"]["packages"])
    code = {".".join(p.parent.relative_to(ROOT / "src").parts) for p in (ROOT / "src" / "neurec").rglob("__init__.py")}
    configs = {"neurec.configs"} | {f"neurec.configs.{d.name}" for d in (ROOT / "configs").iterdir() if d.is_dir()}
    assert listed == code | configs


def test_the_core_install_is_the_scorer_alone():
    deps = [d.split(">")[0].split("<")[0].split("=")[0].strip() for d in _project()["project"]["dependencies"]]
    assert sorted(deps) == ["numpy", "onnxruntime"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source_copy(out / "src")), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(out)], check=True, capture_output=True, timeout=300)
    (found,) = out.glob("neurec-*.whl")
    return found


def test_the_wheel_trains_outside_a_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import neurec; print(neurec.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(site))  # the wheel's copy, not the checkout's
    assert (site / "neurec" / "configs" / "train.yaml").is_file()
    run = subprocess.run([str(site / "bin" / "neurec-train"), "debug=fast", "export.enabled=false"], cwd=work,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert list((work / "outputs" / "runs").glob("*/checkpoints/best.pt"))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, compose_train) -> tuple[Path, dict]:
    from omegaconf import OmegaConf

    from neurec.cli.config import run_config
    from neurec.cli.demo import sample_request
    from neurec.pipeline import run

    tmp = tmp_path_factory.mktemp("slim-bundle")
    cfg = compose_train(["tracking=none", "trainer.epochs=1", "model.dim=16", "export.registered_model_name=null"], tmp)
    OmegaConf.set_struct(cfg, False)
    cfg.pop("hydra")
    result = run(*run_config(cfg))
    request, _ = sample_request(result.data, result.model.cfg.max_history)
    return result.bundle_dir, request


SLIM_CHECK = """
import json, sys, time
t0 = time.perf_counter()
import neurec.serving
seconds = time.perf_counter() - t0
scorer = neurec.serving.Scorer.from_bundle(sys.argv[1])
response = scorer.recommend(json.loads(open(sys.argv[2]).read()))
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[3].split(",")))
print(json.dumps({"import_seconds": seconds, "heavy": heavy, "response": response}))
"""


def _site_mb(venv: Path) -> float:
    return sum(p.stat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def test_the_scorer_installs_and_scores_with_numpy_and_onnxruntime_only(wheel, bundle, tmp_path):
    bundle_dir, request = bundle
    venv = tmp_path / "scorer"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, timeout=900)
    if install.returncode and any(s in install.stderr for s in ("Could not find a version", "NewConnectionError",
                                                                 "Temporary failure in name resolution", "No matching distribution")):
        pytest.skip(f"no package index reachable for numpy/onnxruntime: {install.stderr.strip()[-300:]}")
    assert install.returncode == 0, install.stderr[-3000:]
    freeze = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout.lower()
    assert not any(f"{m}==" in freeze for m in HEAVY), freeze
    (tmp_path / "request.json").write_text(json.dumps(request))
    check = subprocess.run([str(py), "-c", SLIM_CHECK, str(bundle_dir), str(tmp_path / "request.json"), ",".join(HEAVY)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert check.returncode == 0, check.stderr[-3000:]
    got = json.loads(check.stdout)
    assert got["heavy"] == []
    # The same suggestions, probabilities and reasons as the full install's scorer gives for the same bundle.
    from neurec.serving import Scorer

    assert got["response"] == json.loads(json.dumps(Scorer.from_bundle(bundle_dir).recommend(request)))
    # The training commands say which extra they need instead of failing on an import.
    train = subprocess.run([str(venv / "bin" / "neurec-train")], capture_output=True, text=True, timeout=60)
    assert train.returncode == 2 and "pip install 'neurec[train]'" in train.stderr
    assert _site_mb(venv) <= SCORER_MB_TARGET


def test_the_dockerfile_runs_the_service_as_a_user_with_a_health_check(bundle):
    """No Docker daemon in CI: what can be checked without building is that the image's command is one the
    service accepts, that it runs as a non-root user, and that its health check asks an endpoint that exists."""
    import re

    from neurec.cli.serve import _check, _parser

    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2  # build stage, then a slim runtime stage
    assert re.search(r"^USER neurec$", text, re.M) and "[serve]" in text
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    assert entry[0] == "neurec-serve"
    parser = _parser()
    args = parser.parse_args(entry[1:] + cmd)
    _check(parser, args)
    assert (args.host, args.port, args.bundle) == ("0.0.0.0", 8000, "/bundle")
    health = re.search(r"http://127\.0\.0\.1:8000(/\w+)", text).group(1)
    from fastapi.testclient import TestClient

    from neurec.serving import Scorer
    from neurec.serving.service import create_app

    assert TestClient(create_app(Scorer.from_bundle(bundle[0]))).get(health).status_code == 200
