"""The one settings object. Nothing else in the engine reads the environment.

Every setting can be given as an environment variable with the ``LOYALTY_`` prefix
(``LOYALTY_DATABASE_URL``, ``LOYALTY_PORT``...) or in a ``.env`` file in the working directory.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOYALTY_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///loyalty.db",
        description="SQLAlchemy URL: sqlite:///file.db or postgresql+psycopg://user:pw@host/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=4, ge=1, le=64, description="gunicorn worker processes")
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_ping_after_idle_seconds: float = Field(
        default=1.0, ge=0,
        description="PostgreSQL: a pooled connection idle longer than this is pinged before "
                    "use (a dead one is replaced); 0 pings at every checkout",
    )
    sqlite_busy_timeout_seconds: float = Field(default=30.0, gt=0)
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL"] = Field(
        default="FULL",
        description="FULL survives power loss; NORMAL (with WAL) may lose the last commits",
    )
    page_size_default: int = Field(default=50, ge=1, le=1000)
    page_size_max: int = Field(default=200, ge=1, le=10_000)
    future_tolerance_seconds: int = Field(
        default=300, ge=0, description="how far in the future a purchase's occurred_at may be"
    )
    posting_group: int = Field(
        default=8, ge=1, le=64,
        description="the most purchase postings a worker takes from its queue and posts in one "
        "transaction (group commit, README \"Speed\"); 1 posts each alone",
    )
    demo_program: str = Field(default="demo", description="id of the program `make run` loads")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Security and limits
    secret_key: SecretStr | None = Field(
        default=None,
        description="signs member tokens; unset, the engine makes one and keeps it in the database",
    )
    member_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="larger bodies get 413")
    rate_limit_per_minute: int = Field(
        default=1200, ge=0, description="requests per key per minute and worker; 0 turns it off"
    )
    api_key_cache_seconds: int = Field(
        default=5, ge=0, le=300,
        description="how long a worker reuses an API key it has read (its hash, scopes, "
        "revocation); a revocation made by another worker or the CLI takes effect within this "
        "time, one made by this worker at once; 0 reads the key on every request",
    )

    # Webhook delivery
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="failed attempts before a delivery is dead-lettered"
    )
    webhook_backoff_seconds: int = Field(
        default=30, ge=1, description="the first retry delay; each retry doubles it"
    )
    webhook_backoff_max_seconds: int = Field(default=6 * 3600, ge=1)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
