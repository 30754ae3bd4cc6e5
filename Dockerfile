# The scoring service: neurec[serve] (numpy, onnxruntime, FastAPI, uvicorn) and a bundle, no training stack.
#
#   docker build -t neurec-serve .
#   docker run --rm -p 8000:8000 -v "$PWD/outputs/runs/<run>/bundle:/bundle:ro" neurec-serve
#
# Stage 1 builds the wheel from this checkout; stage 2 installs only that wheel's serving extra, so the image holds
# no compiler, no sources and no torch.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY configs ./configs
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN WHEEL="$(ls /wheels/neurec-*.whl)" && pip install "${WHEEL}[serve]" && rm -rf /wheels \
    && useradd --system --uid 10001 --no-create-home neurec
USER neurec
EXPOSE 8000
# /healthz answers as soon as the process serves; the bundle is loaded before that (neurec-serve opens it first).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
# The bundle is mounted at /bundle; a registered model works too: --bundle models:/neurec@champion with
# MLFLOW_TRACKING_URI set to a tracking server (the service fetches the bundle over its REST API, no mlflow).
ENTRYPOINT ["neurec-serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--bundle", "/bundle"]
