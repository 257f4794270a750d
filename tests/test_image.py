"""The image builds and holds what the cluster runs. Only where a Docker engine runs, and only when asked:
``RAY_TOPICS_TEST_DOCKER=1`` (the build pulls Ray's base image, gigabytes); ``RAY_TOPICS_TEST_DOCKER_GPU=1``
builds the gpu target too. docs/cluster.md, "Build the image". tests/test_deploy.py checks the Dockerfile
without Docker.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("RAY_TOPICS_TEST_DOCKER") != "1", reason="set RAY_TOPICS_TEST_DOCKER=1 to build the image"
)

REPO = Path(__file__).resolve().parent.parent
TAG = "ray-topics:test"
BUILD_TIMEOUT_S = 3600
RUN_TIMEOUT_S = 600
# run inside the image: the pins, the packaged model offline, the configs and entrypoints the cluster names
INSIDE = """
import json, pathlib, ray, torch
from ray_topics.config import load_config
from ray_topics.execution.embedder import Embedder
cfg = load_config("/home/ray/ray-topics/configs/cluster.yaml")
vec = Embedder(device="cpu", quantize="int8").encode(["a speedrun of a platform game"])
jobs = [p.name for p in pathlib.Path(cfg.schedule.jobs_dir).glob("*.py")]
print(json.dumps({"ray": ray.__version__, "torch": torch.__version__, "cuda": torch.version.cuda,
                  "dim": int(vec.shape[1]), "jobs": sorted(jobs), "engine": cfg.execution.engine}))
"""


def _docker(*args: str, timeout: int = RUN_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def image() -> str:
    if _docker("info", timeout=30).returncode != 0:
        pytest.fail("RAY_TOPICS_TEST_DOCKER=1 but no Docker engine answers `docker info`")
    built = _docker("build", "-t", TAG, ".", timeout=BUILD_TIMEOUT_S)
    assert built.returncode == 0, built.stdout[-5000:] + built.stderr[-5000:]
    return TAG


def test_the_image_runs_the_pinned_stack_and_embeds_offline(image: str) -> None:
    import json

    out = _docker("run", "--rm", "--network=none", image, "python", "-c", INSIDE)
    assert out.returncode == 0, out.stderr[-5000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["ray"] == "2.60.0" and got["torch"].startswith("2.13.0") and got["cuda"] is None
    assert got["dim"] == 384 and got["engine"] == "ray"
    assert got["jobs"] == ["archive.py", "daily.py", "monthly.py", "refine.py", "stories.py", "weekly.py"]


def test_the_images_commands_are_on_its_path(image: str) -> None:
    for argv in (["ray-topics", "schedule", "--help"], ["python", "/home/ray/ray-topics/jobs/daily.py", "--help"]):
        out = _docker("run", "--rm", image, *argv)
        assert out.returncode == 0, (argv, out.stderr[-3000:])


@pytest.mark.skipif(os.environ.get("RAY_TOPICS_TEST_DOCKER_GPU") != "1", reason="RAY_TOPICS_TEST_DOCKER_GPU=1")
def test_the_gpu_target_builds_with_cuml_and_faiss_gpu() -> None:
    tag = TAG + "-gpu"
    built = _docker(
        "build", "--build-arg", "RAY_FLAVOR=gpu", "--target", "gpu", "-t", tag, ".", timeout=BUILD_TIMEOUT_S
    )
    assert built.returncode == 0, built.stdout[-5000:] + built.stderr[-5000:]
    out = _docker("run", "--rm", tag, "pip", "show", "cuml-cu12", "faiss-gpu-cu12")
    assert out.returncode == 0 and out.stdout.count("Name:") == 2, out.stderr[-3000:]
