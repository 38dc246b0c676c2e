"""Settings from the environment (prefix ``VITRINE_``, nested groups with ``__``) and ``.env``."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "changethis", "secret", "secret_key", "dev", "development", "insecure"}
)
MIN_SECRET_LENGTH = 32
DEV_SECRET = "vitrine-development-only-secret-key-not-for-production"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class DatabaseSettings(BaseModel):
    pool_size: int = 20
    max_overflow: int = 20
    echo: bool = False


class AuthSettings(BaseModel):
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    open_signup: bool = True
    issuer: str = "vitrine"
    audience: str = "vitrine-api"
    min_password_length: int = 10
    login_max_failures: int = 5
    login_window_seconds: int = 300
    login_lockout_seconds: int = 300
    login_ip_max_failures: int = 20
    signup_max_per_address: int = Field(default=10, ge=1)  # self-registrations per client address per window
    signup_window_seconds: int = Field(default=3600, ge=1)
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4


class ScrapingSettings(BaseModel):
    concurrency: int = 16
    requests_per_second: float = 0.0  # 0 means no rate cap beyond the concurrency bound
    timeout_seconds: float = 15.0
    max_retries: int = 4
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    user_agent: str = "Vitrine/0.1 (+https://github.com/vitrine-hub/vitrine; polite crawler)"
    respect_robots_txt: bool = True


class FakeStoreSettings(BaseModel):
    base_url: str = "https://fakestoreapi.com"
    cache_ttl: int = 300
    timeout_seconds: float = 3.0
    max_retries: int = 2
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 30.0
    stale_while_revalidate: bool = False
    stale_ttl_seconds: int = 604_800  # how long an expired entry may still answer during an outage
    backoff_base_seconds: float = 0.1
    backoff_max_seconds: float = 2.0
    requests_per_second: float = 0.0
    upsert_mode: str = "job"  # job | inline: how the database copy is refreshed after an upstream answer
    near_cache_seconds: float = 1.0  # in-process copy in front of Redis
    copy_refresh_seconds: int = 600
    sync_schedule: str = ""  # cron for the whole-copy refresh; empty = off (it touches the network)


class JobsSettings(BaseModel):
    backend: str = "inprocess"  # inprocess | celery
    queue: str = "vitrine"  # Celery queue name and Redis key prefix
    max_workers: int = 2
    heartbeat_seconds: float = 10.0
    heartbeat_timeout_seconds: float = 60.0
    crawl_schedule: str = ""  # cron; empty disables the periodic crawl
    cleanup_schedule: str = "17 3 * * *"
    retention_days: int = 30


class MLSettings(BaseModel):
    artifacts_dir: Path = Path("./var/models")
    auto_promote: bool = True
    reload_interval_seconds: float = 2.0
    prediction_log_sample_rate: float = Field(default=0.1, ge=0.0, le=1.0)  # share of predictions kept for drift
    train_n_jobs: int = Field(default=2, ge=1)  # models trained in parallel by one training job


class ObservabilitySettings(BaseModel):
    request_log: bool = True
    request_log_flush_seconds: float = Field(default=1.0, gt=0)  # the longest a logged row waits to be written
    request_log_batch_size: int = Field(default=2000, ge=1)  # rows per transaction; a full batch wakes the writer
    json_logs: bool | None = None  # None: JSON outside development
    metrics_dir: str = "./var/prometheus"  # multiprocess metric files of `vitrine serve` and `vitrine worker`
    metrics_token: SecretStr | None = None  # when set, GET /metrics needs `Authorization: Bearer <token>`
    request_log_max_queue: int = Field(default=50_000, ge=1)  # rows waiting per process; beyond, new rows are dropped
    worker_metrics_port: int = 0  # a Celery worker's own /metrics port (0 = off)
    ready_timeout_seconds: float = 2.0
    log_level: str = "INFO"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VITRINE_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    env: Environment = Environment.development
    database_url: str = "sqlite:///./var/vitrine.db"
    redis_url: str | None = None
    books_base_url: str = "https://books.toscrape.com/"
    # A process re-reads the catalogue's data version at most this often; 0 checks on every request.
    catalog_cache_seconds: float = 1.0
    secret_key: SecretStr = SecretStr("")
    admin_username: str | None = None
    admin_password: SecretStr | None = None
    admin_email: str | None = None
    cors_origins: list[str] = Field(default_factory=list)

    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    scraping: ScrapingSettings = Field(default_factory=ScrapingSettings)
    fakestore: FakeStoreSettings = Field(default_factory=FakeStoreSettings)
    jobs: JobsSettings = Field(default_factory=JobsSettings)
    ml: MLSettings = Field(default_factory=MLSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)

    @model_validator(mode="after")
    def _check_secrets(self) -> Self:
        key = self.secret_key.get_secret_value()
        if self.env is not Environment.development:
            if key.strip().lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"VITRINE_SECRET_KEY must be set to a random value of at least {MIN_SECRET_LENGTH} "
                    "characters outside development (e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'`)"
                )
        elif not key:
            self.secret_key = SecretStr(DEV_SECRET)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def json_logs(self) -> bool:
        if self.observability.json_logs is not None:
            return self.observability.json_logs
        return self.env is Environment.production


@lru_cache
def get_settings() -> Settings:
    return Settings()
