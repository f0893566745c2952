# InitLab: one image for the API, the workers, the dashboard and the migration job.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies first, so a code change does not reinstall torch.
COPY pyproject.toml README.md ./
# Which CUDA build of torch: its wheels bundle the CUDA runtime, so the host needs only a driver
# new enough for it (README "GPU workers" has the table build -> minimum driver), e.g.
#   docker compose build --build-arg TORCH_CUDA=cu126     # cu126 | cu128 | cu130 | cpu
ARG TORCH_CUDA=cu128
RUN python - <<'PY'
import os, subprocess, sys, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
torch_deps = [d for d in deps if d.startswith(("torch==", "torchvision=="))]
index = f"https://download.pytorch.org/whl/{os.environ['TORCH_CUDA']}"
pip = [sys.executable, "-m", "pip", "install"]
subprocess.check_call([*pip, "--index-url", index, *torch_deps])
subprocess.check_call([*pip, *deps])  # torch==X is satisfied by the X+cuNNN just installed
PY

COPY core core
COPY store store
COPY runqueue runqueue
COPY api api
COPY apiclient apiclient
COPY worker worker
COPY dashboard dashboard
COPY initlab initlab
COPY migrations migrations
RUN pip install --no-deps .

ARG GIT_COMMIT=""
# CUBLAS_WORKSPACE_CONFIG: cuBLAS reads it once per process, so it is set before any starts
# (a deterministic run then reproduces whatever its process ran before). INITLAB_CACHE_DIR:
# the batch-repeats probe's measurements, in a folder the initlab user can write.
ENV INITLAB_GIT_COMMIT=${GIT_COMMIT} \
    INITLAB_ARTIFACT_DIR=/var/lib/initlab/artifacts \
    INITLAB_CACHE_DIR=/var/lib/initlab/cache \
    INITLAB_DATA_ROOT=/data \
    CUBLAS_WORKSPACE_CONFIG=:4096:8 \
    CUDA_DEVICE_ORDER=PCI_BUS_ID

RUN useradd --create-home --uid 1000 initlab \
    && mkdir -p /var/lib/initlab/artifacts /var/lib/initlab/cache /data \
    && chown -R initlab /var/lib/initlab
USER initlab

EXPOSE 8000 8501
CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
