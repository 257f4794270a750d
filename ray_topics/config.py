"""Configuration: YAML files in ``configs/`` validated once into pydantic models.

Library classes take plain keyword arguments; only entry points (CLI, jobs,
Serve app builder) call :func:`load_config`.

Example:
    >>> cfg = load_config(overrides=["daily.min_cluster_size=20"])
    >>> cfg.daily.min_cluster_size
    20
    >>> cfg.daily.misfit_confidence
    0.6
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ray_topics.core.schedule import JOB_ORDER

__all__ = [
    "DEFAULT_CONFIG",
    "Config",
    "ConfigError",
    "DomainSpec",
    "load_config",
]

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


QUANTIZE_MODES = ("none", "int8")
STORE_URL_ENV = "RAY_TOPICS_STORE_URL"
# a setting written `env:NAME` is read from the environment variable NAME where it is used, so a
# secret never sits in a file, nor in a config handed to other processes (Serve replicas, Ray tasks)
ENV_REF = "env:"
DOMAIN_NAME_MAX = 64  # the store's domain columns (ray_topics/storage/schema.py; a test keeps them equal)
RESERVED_DOMAIN_NAMES = ("failed",)  # a key of every job's summary beside its domains' own
PG_MAX_MS_SETTING_S = (2**31 - 1) // 1000  # the most seconds a PostgreSQL setting in milliseconds holds


def from_env(value: str) -> str:
    """``value``, or the environment variable it names as ``env:NAME`` (read now, in this process)."""
    if not value.startswith(ENV_REF):
        return value
    name = value.removeprefix(ENV_REF)
    if not os.environ.get(name):
        raise ConfigError(f"the configuration reads {name} from the environment, but it is not set here")
    return os.environ[name]


def check_quantize(quantize: str, device: str) -> None:
    """Raise ValueError unless ``quantize`` is a known mode that runs on ``device`` (config and Embedder share it)."""
    if quantize not in QUANTIZE_MODES:
        raise ValueError(f"embedding.quantize must be one of {', '.join(QUANTIZE_MODES)}, got {quantize!r}")
    if quantize == "int8" and device != "cpu":
        raise ValueError(f"embedding.quantize int8 runs on the CPU only; set it to none for device {device!r}")


class ConfigError(ValueError):
    """A configuration file or override is invalid."""


class _Section(BaseModel):
    # no setting means anything at infinity or NaN: both are refused where given, not a traceback where used
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StoreConfig(_Section):
    url: str
    schema_name: str | None = None
    pool_size: int = Field(ge=1)
    max_overflow: int = Field(ge=0)
    pool_timeout_s: float = Field(gt=0)
    # PostgreSQL takes both as milliseconds in a 32-bit integer (about 24.8 days at most)
    statement_timeout_s: float = Field(ge=0, le=PG_MAX_MS_SETTING_S)
    dead_client_s: float = Field(ge=0, le=PG_MAX_MS_SETTING_S)


class LakeConfig(_Section):
    root: str


class EmbeddingConfig(_Section):
    model_path: str | None = None
    dim: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    device: str = "cpu"
    quantize: Literal["none", "int8"] = "none"
    max_chars: int = Field(gt=0)

    @model_validator(mode="after")
    def _quantize_on_cpu(self) -> EmbeddingConfig:
        check_quantize(self.quantize, self.device)
        return self


class ExecutionConfig(_Section):
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    gpu_jobs: list[Literal["daily", "weekly", "monthly"]] = Field(default_factory=list)
    gpus_per_domain_task: float = Field(default=1.0, ge=0)
    blas_threads: int | None = Field(default=1, ge=1)
    job_niceness: int = Field(default=10, ge=0, le=19)
    commit_retries: int = Field(ge=0)
    lease_wait_seconds: float = Field(ge=0)
    lease_poll_seconds: float = Field(gt=0)

    @model_validator(mode="after")
    def _gpu_jobs_ask_for_gpus(self) -> ExecutionConfig:
        if self.gpu_jobs and not self.gpus_per_domain_task > 0:
            raise ValueError(
                f"execution.gpu_jobs {self.gpu_jobs} ask for a GPU per domain task, but gpus_per_domain_task is "
                f"{self.gpus_per_domain_task}: no GPU worker would be started for them (set it above 0, or "
                "empty gpu_jobs)"
            )
        return self


class ClusterConfig(_Section):
    backend: Literal["auto", "cpu", "cuml"] = "auto"
    umap_n_neighbors: int = Field(ge=2)
    umap_n_components: int = Field(ge=2)
    umap_min_dist: float = Field(ge=0)
    umap_n_epochs: int | None = Field(default=None, ge=10)
    hdbscan_min_samples: int = Field(ge=1)
    random_state: int | None = 42
    gpu_min_rows: int = Field(ge=0)


class ConfidenceConfig(_Section):
    edge_sigmas: float = Field(gt=0)
    typical: float = Field(gt=0.5, lt=1)
    min_sigma: float = Field(gt=0)
    reject_below: float = Field(ge=0, le=1)


class DomainSpec(_Section):
    name: str
    description: str
    categories: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not v or ":" in v or "/" in v or v != v.strip() or "\x00" in v:
            raise ValueError(f"domain name {v!r} must be non-empty, without ':' or '/'")
        if len(v) > DOMAIN_NAME_MAX:
            raise ValueError(f"domain name {v!r} is longer than {DOMAIN_NAME_MAX} characters (the store's column)")
        if v in RESERVED_DOMAIN_NAMES:
            raise ValueError(f"domain name {v!r} is reserved: a job's summary names its failed domains under it")
        return v


class DomainsConfig(_Section):
    unknown_category: Literal["route", "reject"] = "route"
    prototype_update_rate: float = Field(ge=0, le=1)
    items: list[DomainSpec]
    # routing floor (ray_topics/core/router.py): None routes to the nearest prototype, floor or not
    fallback: str | None = None
    floor_z: float = Field(default=2.5, gt=0)
    floor_min_videos: int = Field(default=30, ge=2)
    # routing by neighbours (ray_topics/core/router.py): a video without a mapped category goes to the
    # strict-majority domain of its nearest labelled videos; 0 turns it off
    vote_neighbours: int = Field(default=10, ge=0)
    vote_exemplars: int = Field(default=1000, ge=1)  # labelled videos per domain the vote reads
    vote_window_days: int = Field(default=28, ge=1)  # ... sampled evenly from this many past days

    @model_validator(mode="after")
    def _unique(self) -> DomainsConfig:
        names = [d.name for d in self.items]
        if not names:
            raise ValueError("at least one domain is required")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate domain names in {names}")
        seen: dict[str, str] = {}
        for d in self.items:
            for c in d.categories:
                key = c.lower()
                if key in seen and seen[key] != d.name:
                    raise ValueError(f"category {c!r} maps to both {seen[key]} and {d.name}")
                seen[key] = d.name
        if self.fallback is not None and self.fallback not in names:
            raise ValueError(f"domains.fallback {self.fallback!r} is not one of the domains {names}")
        return self

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.items]

    def category_map(self) -> dict[str, str]:
        return {c.lower(): d.name for d in self.items for c in d.categories}


class ScheduleConfig(_Section):
    refine_every_hours: int = Field(ge=1, le=24)
    weekly_on: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "monday"
    monthly_on_day: int = Field(ge=1, le=28)
    # `ray-topics schedule` (ray_topics/execution/schedule.py): where it submits, what, how often it looks
    jobs_api: str
    jobs_dir: str
    job_config: str | None = None
    entrypoint_num_cpus: float = Field(ge=0)
    catch_up_hours: int = Field(ge=1)
    poll_seconds: float = Field(gt=0)
    max_backoff_seconds: float = Field(gt=0)
    job_poll_seconds: float = Field(gt=0)
    job_timeout_hours: dict[str, float]

    @field_validator("job_timeout_hours")
    @classmethod
    def _timeouts(cls, v: dict[str, float]) -> dict[str, float]:
        if "default" not in v:
            raise ValueError("job_timeout_hours needs a 'default' (the hours of every job not named)")
        unknown = set(v) - {"default", *JOB_ORDER}
        if unknown:
            raise ValueError(f"job_timeout_hours: unknown jobs {sorted(unknown)}; jobs: {', '.join(JOB_ORDER)}")
        if any(not h > 0 for h in v.values()):
            raise ValueError("job_timeout_hours must be positive")
        return v

    @property
    def weekday(self) -> int:
        return ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].index(self.weekly_on)


class RefineConfig(_Section):
    batch_size: int = Field(gt=0)
    hot_retention_days: int = Field(ge=0)
    compact_page_rows: int = Field(gt=0)


class DailyConfig(_Section):
    misfit_confidence: float = Field(ge=0, le=1)
    pool_window_days: int = Field(ge=1)
    max_pool_window_days: int = Field(ge=1)
    min_pool_size: int = Field(ge=2)
    min_cluster_size: int = Field(ge=2)
    min_coherence: float = Field(ge=0, le=1)
    min_relative_cohesion: float = Field(ge=0, le=1)
    min_cluster_fraction: float | None = Field(default=None, gt=0, le=1)
    min_cluster_floor: int = Field(ge=2)
    cluster_resolution: float = Field(gt=0, le=1)
    max_similarity_to_existing: float = Field(ge=-1, le=1)
    dying_after_days: int = Field(ge=1)
    dead_after_days: int = Field(ge=1)
    # settle the day that ended this many days ago by its videos' nearest videos (ray_topics.tiers.settle)
    settle_after_days: int | None = Field(default=None, ge=1)
    # ... keeping the answer of a video that at least this share of its neighbours hold (by weight, sampled)
    settle_keep_share: float = Field(ge=0, le=1)
    # ... each answer's weight among sampled neighbours taken less this many standard errors of it (0: plain)
    settle_vote_errors: float = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> DailyConfig:
        if self.dead_after_days < self.dying_after_days:
            raise ValueError("daily.dead_after_days must be >= daily.dying_after_days")
        return self


class WeeklyConfig(_Section):
    window_days: int = Field(ge=1)
    drift_rate: float = Field(gt=0, le=1)
    drift_event_threshold: float = Field(ge=0)
    min_members: int = Field(ge=1)
    max_members_per_topic: int = Field(ge=1)
    top_keywords: int = Field(ge=1)
    keyword_window_days: int = Field(ge=1)
    keyword_max_docs: int = Field(ge=1)
    calibration_upper_quantile: float = Field(gt=0.5, lt=1)

    @model_validator(mode="after")
    def _sample_holds_min_members(self) -> WeeklyConfig:
        if self.max_members_per_topic < self.min_members:
            raise ValueError(
                f"weekly.max_members_per_topic ({self.max_members_per_topic}) must be >= weekly.min_members "
                f"({self.min_members}): a topic's sample must be able to hold the members it is judged on"
            )
        return self


class MonthlyConfig(_Section):
    recent_days: int = Field(ge=1)
    log_spaced_days: list[int]
    per_day_sample: int = Field(ge=1)
    per_topic_sample: int = Field(ge=1)
    top_viral: int = Field(ge=0)
    recent_outliers: int = Field(ge=0)
    max_sample: int = Field(ge=10)
    recluster_min_fraction: float = Field(gt=0, lt=1)
    align_threshold: float = Field(ge=-1, le=1)
    merge_threshold: float = Field(ge=-1, le=1)
    split_min_fraction: float = Field(gt=0, lt=0.5 + 1e-9)
    split_min_size: int = Field(ge=4)
    reassign_chunk: int = Field(ge=1)


class GlobalTopicsConfig(_Section):
    """Links between topics of different domains (:mod:`ray_topics.core.global_topics`)."""

    # a cosine above which two domains' topics are one story: 0 or less would link unrelated topics
    # (and make the link rule compare every pair)
    link_threshold: float = Field(gt=0, le=1)
    echo_births: bool = True
    # the stories job places again the videos of this many days before its midnight (null: the daily
    # pool window, the days a birth takes videos from), so a story topic born late takes its earlier videos
    place_days: int | None = Field(default=None, ge=1)
    # how a video is placed in the story view (ray_topics.core.stories): by the answers of its nearest
    # videos of the window, or by the nearest topic centroid; the vote's size, its voters' bound, and search
    place_by: Literal["centroid", "neighbours"] = "centroid"
    place_neighbours: int = Field(ge=1)
    place_voters: int = Field(ge=1)
    place_exact_voters: int = Field(ge=0)
    place_nprobe: int = Field(ge=1)


class KeywordsConfig(_Section):
    """The keyword step of every tier (:mod:`ray_topics.execution.representation`)."""

    representation: Literal["ctfidf", "keybert", "mmr"] = "ctfidf"
    candidates: int = Field(ge=1)
    mmr_diversity: float = Field(ge=0, le=1)
    keybert_docs: int = Field(ge=1)
    keybert_samples: int = Field(ge=1)
    # stop words: those of these languages (ray_topics.core.tokens.STOP_WORD_LANGUAGES) and these words
    languages: list[str] = Field(default_factory=lambda: ["english"])
    stop_words: list[str] = Field(default_factory=list)

    @field_validator("languages")
    @classmethod
    def _installed_languages(cls, v: list[str]) -> list[str]:
        from ray_topics.core.tokens import STOP_WORD_LANGUAGES

        unknown = [x for x in v if x not in STOP_WORD_LANGUAGES]
        if unknown:
            raise ValueError(
                f"no stop-word list for {', '.join(unknown)} (have: {', '.join(STOP_WORD_LANGUAGES)}); "
                "list that language's stop words in keywords.stop_words"
            )
        return v


class BertopicConfig(_Section):
    """`ray-topics import-bertopic` and `export-bertopic` (:mod:`ray_topics.interop`, docs/bertopic.md)."""

    # an import without the training documents' embeddings calibrates each topic from this prior:
    # mu = the norm of its topic embedding when that is at most 1 (a mean of unit vectors), else
    # prior_sim_mean; sigma = prior_sim_std
    prior_sim_mean: float = Field(gt=0, le=1)
    prior_sim_std: float = Field(gt=0)
    # the embedding model an export names in its config.json (BERTopic.load loads it); None: none
    embedding_model: str | None = None


class BootstrapConfig(_Section):
    """`ray-topics bootstrap`: the first model of each domain from a historical dump (docs/bertopic.md)."""

    # days back, beyond monthly.log_spaced_days, that the dump's sample also takes (a dump is
    # often longer than the monthly look-back)
    extra_log_spaced_days: list[int]
    # videos classified and stored per Tier 1 batch of the history pass
    batch_size: int = Field(ge=1)

    @field_validator("extra_log_spaced_days")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(d < 1 for d in v):
            raise ValueError(f"bootstrap.extra_log_spaced_days must be whole days >= 1, got {v}")
        return v


class ArchiveConfig(_Section):
    """Storage classes (hot, warm, cold) of the lake's day partitions (:mod:`ray_topics.storage.aging`)."""

    # cold partitions go here: a folder or any pyarrow filesystem URI ({workdir} is expanded)
    root: str
    # hot -> warm (int8 in place) once the partition's day ended at least this many days before as-of
    warm_after_days: int = Field(ge=1)
    # warm -> cold (archive root) once the day ended at least this many days before as-of ...
    archive_after_days: int = Field(ge=1)
    # ... and the partition was read fewer than this many times
    min_accesses: int = Field(ge=0)
    # product quantisation of cold partitions: bytes per vector (must divide embedding.dim)
    pq_subquantizers: int = Field(ge=1)
    # a domain's codebook is trained from up to this many of its vectors ...
    pq_train_rows: int = Field(ge=256)
    # ... and needs at least this many (fewer: its partitions go cold as int8 until it has them)
    pq_min_train_rows: int = Field(ge=256)
    # a domain's codebook older than this is retrained at the next archival (old files keep theirs)
    codebook_max_age_days: int = Field(ge=1)

    @model_validator(mode="after")
    def _order(self) -> ArchiveConfig:
        if self.archive_after_days < self.warm_after_days:
            raise ValueError("archive.archive_after_days must be >= archive.warm_after_days")
        if self.pq_train_rows < self.pq_min_train_rows:
            raise ValueError("archive.pq_train_rows must be >= archive.pq_min_train_rows")
        return self


class HealthConfig(_Section):
    low_confidence: float = Field(ge=0, le=1)
    max_channel_share: float = Field(gt=0, le=1)
    min_videos_for_alerts: int = Field(ge=1)
    quiet_days: int = Field(ge=1)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        # DYING_TOPIC now means the stored status only; its old idle-days threshold became QUIET_TOPIC's
        if isinstance(data, dict) and "dying_days" in data:
            raise ValueError(
                "health.dying_days was renamed health.quiet_days (the QUIET_TOPIC alert); "
                "DYING_TOPIC follows the topic's status, set after daily.dying_after_days"
            )
        return data


class ServeConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 8000
    # bearer token for write and admin routes; ${RAY_TOPICS_TOKEN} overrides it
    token: str | None = None
    open_reads: bool = True
    max_batch: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=8_000_000, ge=1024)
    max_future_seconds: int = Field(default=300, ge=0)
    # how often DomainModel replicas look for new model versions in the registry
    model_poll_seconds: float = Field(default=2.0, gt=0)
    # calls out at once to a domain's DomainModel from one Ingress replica; requests arriving meanwhile
    # go together in the next call (serve/app.py, Ingress._to_domain)
    domain_calls_in_flight: int = Field(default=1, ge=1)
    # Ray Serve's access line for every request in each replica (the metrics count requests either way)
    access_log: bool = False
    # SQLite store: DomainModel replicas checkpoint the WAL in the background this often
    checkpoint_seconds: float = Field(default=1.0, gt=0)
    # back-pressure (docs/serving.md): how long a classify request waits for its videos to be stored,
    # the most calls queued at each caller of DomainModel, the Retry-After sent with every 503
    request_timeout_s: float = Field(default=30.0, gt=0)
    model_max_ongoing_requests: int = Field(default=256, ge=1)
    model_max_queued_requests: int = Field(default=512, ge=1)
    ingress_max_queued_requests: int = Field(default=1024, ge=1)
    retry_after_s: int = Field(default=1, ge=0)
    # GET /v1/topics pages: default and largest page
    page_size: int = Field(default=100, ge=1)
    max_page_size: int = Field(default=1000, ge=1)
    # /v1/health, /metrics and /v1/stories: computed at most once per this many seconds per replica
    health_cache_seconds: float = Field(default=60.0, ge=0)
    # ...and a value older than that by less than this is still answered at once while it is recomputed
    health_stale_seconds: float = Field(default=600.0, ge=0)
    # health and the story list computed by one Ingress replica per health_cache_seconds for all, kept
    # in the store's shared_reads (false: each replica computes its own; the Ingress never writes)
    share_reads: bool = True
    # ...whose writes to the store (the claim, the value) wait at most this long for a lock a job holds
    # (SQLite's one write lock), then the replica computes and answers the value on its own
    shared_read_wait_s: float = Field(default=1.0, gt=0)
    # GET /v1/stories: the days of placed stories it sums by default, and at most
    story_days: int = Field(default=7, ge=1)
    max_story_days: int = Field(default=31, ge=1)
    # how often Ingress replicas reload the domain prototypes the router uses
    prototype_poll_seconds: float = Field(default=60.0, gt=0)
    # environment of the Ray processes that `ray-topics serve` starts (a variable already set wins)
    ray_env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        # the DomainModel no longer batches calls: its group commit groups them (docs/serving.md)
        old = sorted({"model_batch_size", "model_batch_wait_s"} & set(data)) if isinstance(data, dict) else []
        if old:
            raise ValueError(
                f"serve.{', serve.'.join(old)}: retired; the DomainModel groups concurrent calls in its commit "
                "and no longer batches them (remove the key)"
            )
        return data

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> ServeConfig:
        for default, most in (("page_size", "max_page_size"), ("story_days", "max_story_days")):
            if getattr(self, default) > getattr(self, most):
                raise ValueError(
                    f"serve.{default} ({getattr(self, default)}) is above serve.{most} ({getattr(self, most)}): "
                    "every request that leaves it out would be refused"
                )
        return self


class MetricsConfig(_Section):
    # where each job run writes its gauges (ray_topics/ops/metrics.py); None: not there
    pushgateway: str | None = None
    textfile_dir: str | None = None


class Config(_Section):
    workdir: str
    store: StoreConfig
    lake: LakeConfig
    embedding: EmbeddingConfig
    execution: ExecutionConfig
    cluster: ClusterConfig
    confidence: ConfidenceConfig
    domains: DomainsConfig
    schedule: ScheduleConfig
    refine: RefineConfig
    daily: DailyConfig
    weekly: WeeklyConfig
    monthly: MonthlyConfig
    global_topics: GlobalTopicsConfig
    archive: ArchiveConfig
    health: HealthConfig
    keywords: KeywordsConfig
    bertopic: BertopicConfig
    bootstrap: BootstrapConfig
    serve: ServeConfig = Field(default_factory=ServeConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    @field_validator("workdir")
    @classmethod
    def _absolute_workdir(cls, v: str) -> str:
        # a Ray worker rebuilds the runtime from this config in a directory of its own: a relative
        # workdir would give it another, empty store and lake there
        return v if "://" in v else str(Path(v).expanduser().absolute())

    @property
    def store_url(self) -> str:
        """The store's URL, read from the environment when configured as ``env:NAME``."""
        return from_env(self.store.url).replace("{workdir}", self.workdir)

    @property
    def lake_root(self) -> str:
        return self.lake.root.replace("{workdir}", self.workdir)

    @property
    def metrics_textfile_dir(self) -> str | None:
        d = self.metrics.textfile_dir
        return None if d is None else d.replace("{workdir}", self.workdir)

    @property
    def archive_root(self) -> str:
        return self.archive.root.replace("{workdir}", self.workdir)

    @model_validator(mode="after")
    def _pq_fits_dim(self) -> Config:
        if self.embedding.dim % self.archive.pq_subquantizers:
            raise ValueError(
                f"archive.pq_subquantizers ({self.archive.pq_subquantizers}) must divide "
                f"embedding.dim ({self.embedding.dim})"
            )
        return self


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    # `extends: other.yaml` layers this file over another (path relative to this file); a file
    # that extends nothing is layered over the defaults, so it names only what it changes
    parent = data.pop("extends", None)
    if parent:
        data = _deep_merge(_read_yaml((path.parent / parent).resolve()), data)
    elif path.resolve() != DEFAULT_CONFIG:
        data = _deep_merge(_read_yaml(DEFAULT_CONFIG), data)
    return data


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the value is parsed as YAML."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like section.key=value")
    dotted, raw = override.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"override {override!r} names no key")
    node = data
    model: type[BaseModel] | None = Config
    # the last key may name an entry of a mapping setting (job_timeout_hours.weekly): any name, its values' type
    mapping: type | None = None
    for k in keys[:-1]:
        mapping = _mapping_values(model, k)
        section = _section_model(model, k)
        if not isinstance(node.get(k), dict):
            # a section the file leaves out (e.g. ``serve``, all defaults) may still be overridden
            if node.get(k) is not None or section is None:
                raise ConfigError(f"override {override!r}: {k!r} is not a config section")
            node[k] = {}
        node = node[k]
        model = section
    if keys[-1] not in node and mapping is None and (model is None or keys[-1] not in model.model_fields):
        raise ConfigError(f"override {override!r}: unknown key {dotted!r}")
    text = _is_text(model, keys[-1]) or mapping is str
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        if not text:
            raise ConfigError(f"override {override!r}: the value is not valid YAML ({type(exc).__name__})") from None
        value = raw.strip()  # a text setting takes it as written (a token beginning with @ or *)
    if text and value is not None and not isinstance(value, dict | list | str):
        value = raw.strip()  # a token or a host of digits, "on", "no": text as written, not YAML's number or bool
    node[keys[-1]] = value


def _is_text(model: type[BaseModel] | None, key: str) -> bool:
    """Whether ``key`` of ``model`` is a text setting (``str`` or ``str | None``)."""
    field = model.model_fields.get(key) if model is not None else None
    return field is not None and field.annotation in (str, str | None)


def _mapping_values(model: type[BaseModel] | None, key: str) -> type | None:
    """The type of the values when setting ``key`` of ``model`` maps free names to them (``dict[str, V]``)."""
    field = model.model_fields.get(key) if model is not None else None
    if field is None or get_origin(field.annotation) is not dict:
        return None
    return get_args(field.annotation)[1]


def _section_model(model: type[BaseModel] | None, key: str) -> type[BaseModel] | None:
    """The pydantic model of section ``key`` of ``model``, or None when it is not a section."""
    field = model.model_fields.get(key) if model is not None else None
    ann = field.annotation if field is not None else None
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
    workdir: str | None = None,
) -> Config:
    """Load, layer and validate a configuration.

    Args:
        path: YAML file; defaults to ``configs/default.yaml``. A file may say
            ``extends: default.yaml`` to change only a few values.
        overrides: ``dotted.key=value`` strings applied last (CLI ``--set``); the
            environment variable ``RAY_TOPICS_STORE_URL``, when set, replaces
            ``store.url`` before them (as the reference ``env:RAY_TOPICS_STORE_URL``:
            the URL itself is read where it is used, see :func:`from_env`).
        workdir: replaces ``workdir`` (CLI ``--workdir``).

    Raises:
        ConfigError: with the offending key, when the file or an override is invalid.
    """
    data = _read_yaml(Path(path) if path else DEFAULT_CONFIG)
    if os.environ.get(STORE_URL_ENV):  # secrets (a password in the URL) stay out of YAML files
        data.setdefault("store", {})["url"] = ENV_REF + STORE_URL_ENV
    for ov in overrides or []:
        apply_override(data, ov)
    if workdir:
        data["workdir"] = workdir
    try:
        return Config.model_validate(data)
    except Exception as exc:  # pydantic.ValidationError: keep its per-field message
        raise ConfigError(f"invalid configuration: {exc}") from exc
