"""Screenshots of the MLflow UI as a user first sees it: the experiment's runs page and one training run's page.

    .venv/bin/python scripts/mlflow_screenshot.py --out docs/images          # trains a small tracked run first
    .venv/bin/python scripts/mlflow_screenshot.py --store sqlite:///mlruns/mlflow.db --experiment neurec --out shots

Starts `mlflow ui` on 127.0.0.1 (the README's command), points headless Chromium at the pages, and stops the
server by its PID. Needs a `chromium` (or `chromium-browser`, `google-chrome`) on PATH; Debian: apt install chromium.
Prints the files written and a JSON line with the URLs, for the docs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from local_server import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WORKFLOW = "machine_learning"


def train_small(folder: Path) -> tuple[str, str]:
    """A shrunk tracked run (the demo's path) into a store of its own: (tracking URI, experiment name)."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    subprocess.run([str(Path(sys.executable).parent / "neurec-train"), "debug=fast", "tracking.enabled=true",
                    f"tracking.uri={uri}", f"tracking.artifact_location={folder / 'artifacts'}", "trainer.epochs=4",
                    f"paths.log_dir={folder / 'outputs'}"], check=True, cwd=folder)
    return uri, "neurec"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    ap.add_argument("--store", help="tracking URI to show (default: train a small run into a fresh store)")
    ap.add_argument("--experiment", default="neurec")
    ap.add_argument("--wait-ms", type=int, default=20000, help="virtual time the page gets to render")
    args = ap.parse_args()
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        raise SystemExit(f"no headless browser on PATH (tried {', '.join(BROWSERS)}); Debian: apt install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="neurec-shot-") as tmp:
        tmp = Path(tmp)
        uri, experiment = (args.store, args.experiment) if args.store else train_small(tmp)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(experiment)
        model_runs = client.search_runs([exp.experiment_id], "tags.`neurec.method` = 'model'", max_results=1)
        run_id = model_runs[0].info.run_id
        port = free_port()
        mlflow = Path(sys.executable).parent / "mlflow"
        server = subprocess.Popen([str(mlflow), "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port",
                                   str(port), "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if urllib.request.urlopen(f"{base}/health", timeout=2).status == 200:
                        break
                except OSError:
                    time.sleep(0.5)
            else:
                raise SystemExit("mlflow ui did not answer /health within 90 s")
            # MLflow 3.x's UI picks GenAI or model-training pages by a switch it remembers per browser (GenAI by
            # default); this query sets it, as the README's link does.
            ml = f"?workflowType={WORKFLOW}"
            pages = {"mlflow-runs.png": f"{base}/#/experiments/{exp.experiment_id}/runs{ml}",
                     "mlflow-run.png": f"{base}/#/experiments/{exp.experiment_id}/runs/{run_id}{ml}"}
            for name, url in pages.items():
                target = args.out / name
                subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                "--window-size=1500,950", f"--virtual-time-budget={args.wait_ms}",
                                f"--screenshot={target}", url], check=True, capture_output=True, timeout=180)
                print(f"wrote {target}")
            print(json.dumps({"experiment_id": exp.experiment_id, "run_id": run_id,
                              "pages": {k: v.replace(base, "<ui>") for k, v in pages.items()}}))
        finally:
            stop_process(server)


if __name__ == "__main__":
    main()
