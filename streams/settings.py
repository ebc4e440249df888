"""One settings object for the whole process, read from the environment.

Variables use the ``EMC_`` prefix and ``__`` for nesting, e.g. ``EMC_KAFKA__BOOTSTRAP_SERVERS``,
``EMC_CLICKHOUSE__DSN``, ``EMC_WEB__PORT``. Secrets (the ClickHouse DSN may carry a password)
are ``SecretStr`` and never logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class KafkaSettings(BaseModel):
    """Where the lifecycle topics live and how the worker talks to the broker."""

    bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated ``host:port`` list."""
    schema_registry_url: str | None = None
    """Confluent schema registry; enables the Confluent wire format on input."""
    partitions: int = Field(default=4, ge=1)
    """Partitions of each lifecycle topic and state changelog, when the worker creates them."""
    replication_factor: int = Field(default=1, ge=1)
    single_record_batches: bool = False
    """Send single-record produce batches from the worker's producer (librdkafka
    ``batch.num.messages=1``). No longer needed against tansu, whose end offsets are wrong after
    multi-record batches (docs/design.md): the worker's state restore reads up to a marker record
    and never trusts end offsets. Kept for brokers with the same defect elsewhere."""
    session_timeout_s: float = Field(default=10.0, gt=0)
    """Consumer group session timeout, seconds. tansu rebalances take about half of it."""
    group_id: str = "emc-worker"
    """Consumer group of the workers, Faust application id and prefix of the state changelog
    topic ``{group_id}-unit_state-changelog``."""


class ClickHouseSettings(BaseModel):
    """The analytical store. ``chdb://PATH`` is the embedded engine, ``http(s)://…`` a server."""

    dsn: SecretStr | None = None
    """Default: ``chdb://{EMC_DATA_DIR}/clickhouse`` (embedded)."""
    database: str = "emc"
    insert_batch_rows: int = Field(default=50_000, ge=1)
    """Largest insert, rows; a stream batch larger than this is split."""
    retry_initial_s: float = Field(default=0.5, gt=0)
    """First back-off when ClickHouse refuses an insert, seconds (doubles up to retry_max_s)."""
    retry_max_s: float = Field(default=30.0, gt=0)

    @field_validator("database")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not value.replace("_", "").isalnum():
            raise ValueError("database must be a plain identifier (letters, digits, _)")
        return value


class WebSettings(BaseModel):
    """The worker's HTTP server (live tables, health)."""

    host: str = "127.0.0.1"
    port: int = Field(default=6066, ge=0, le=65535)
    tokens: SecretStr | None = None
    """Access tokens from configuration: comma-separated ``ROLE[:UNIT_CODE]=TOKEN`` where TOKEN
    is a plaintext token or ``sha256:<hex digest>`` (streams/web/auth.py)."""
    tokens_file: Path | None = None
    """Token file kept by ``emc token issue|revoke``; default ``{data_dir}/web_tokens.json``."""


class StreamSettings(BaseModel):
    """How the agents batch and window."""

    batch_max_events: int = Field(default=30_000, ge=1)
    """Most events handed to the core at once."""
    batch_within_s: float = Field(default=0.5, gt=0)
    """Longest wait to fill a batch, seconds (bounds ClickHouse visibility latency)."""
    max_in_flight: int = Field(default=3, ge=1)
    """Batches handed to the agent and not yet done before the feed pauses fetching."""
    allowed_lateness_1m_s: int = Field(default=3_600, ge=0)
    """Seconds after a 1-minute window's end during which late events still correct it."""
    allowed_lateness_1h_s: int = Field(default=7 * 86_400, ge=0)
    allowed_lateness_1d_s: int = Field(default=7 * 86_400, ge=0)
    lifecycle_grace_s: int = Field(default=86_400, ge=0)
    """A processed/result/feedback event whose receipt has not come this many seconds (of the
    unit's event time) later is reported as an impossible lifecycle."""
    dossier_retention_s: int = Field(default=30 * 86_400, ge=0)
    """Seconds (of the unit's event time) a closed dossier's state is kept before it expires."""
    max_future_skew_s: int = Field(default=86_400, ge=0)
    """Events stamped further than this in the future (seconds) are rejected as invalid."""
    max_message_bytes: int = Field(default=65_536, ge=256)
    store: Literal["memory", "rocksdb"] = "memory"
    """Where the worker keeps state (streams/state_store.py): memory, or rocksdb (on disk under
    ``{data_dir}/state``); either is rebuilt from the changelog topic when partitions are
    assigned."""
    summary_interval_s: float = Field(default=5.0, gt=0)


class HealthSettings(BaseModel):
    """Connection health: the working calendar and the thresholds of the status rules.

    The rules and their order are in docs/domain.md ("Connection status"); streams/health/
    applies them.
    """

    silence_working_hours: float = Field(default=24.0, gt=0)
    """Interrupted after more than this many working hours without any event, hours."""
    volume_drop_ratio: float = Field(default=0.2, ge=0, le=1)
    """Interrupted when today's volume so far is under this fraction of the usual volume."""
    trailing_weeks: int = Field(default=4, ge=1, le=26)
    """Usual volume: median of the same weekday over this many previous weeks."""
    volume_min_baseline_events: int = Field(default=20, ge=1)
    """The volume-drop rule applies only when the usual volume so far reaches this many events."""
    unknown_procedure_share: float = Field(default=0.02, ge=0, le=1)
    """Needs reconciliation above this share of receipts whose code is not in the catalogue."""
    impossible_lifecycle_share: float = Field(default=0.01, ge=0, le=1)
    """Needs reconciliation above this share of dossiers with an impossible lifecycle."""
    catalogue_coverage_min: float = Field(default=0.5, ge=0, le=1)
    """Not comprehensive under this share of online catalogue procedures having any receipt."""
    reconciliation_days: int = Field(default=30, ge=1)
    """Trailing window of the reconciliation and completeness rules, days."""
    office_open: str = "07:30"
    """Start of office hours, local time (Asia/Ho_Chi_Minh) HH:MM."""
    office_close: str = "17:00"
    """End of office hours, local time HH:MM."""
    office_days: str = "mon,tue,wed,thu,fri"
    """Working weekdays, comma-separated (mon … sun)."""
    saturday_close: str | None = None
    """When set (e.g. "11:30"), Saturday mornings from office_open to this time are working."""
    holidays_file: str = "holidays.csv"
    """Public holidays, relative to config_dir (or absolute)."""
    compensatory_days: bool = True
    """A holiday on a non-working day gives the next working day off (Labour Code 2019 Art. 111)."""
    evaluation_interval_s: float = Field(default=60.0, ge=0)
    """How often the worker re-evaluates every unit's status, seconds; 0 turns the timer off."""


class AssessmentSettings(BaseModel):
    """Period assessment: the scoring rules file and overrides of single values in it."""

    scoring_file: str = "scoring.toml"
    """Scoring rules (config/scoring.toml's form), relative to config_dir (or absolute)."""
    overrides: dict[str, float | str | bool] = Field(default_factory=dict)
    """Dotted keys of the scoring file set to new values, as JSON in the environment:
    ``EMC_ASSESSMENT__OVERRIDES='{"indicators.on_time_rate.max_points": 25}'``."""


class Settings(BaseSettings):
    """Everything the process reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="EMC_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    data_dir: Path = Path("./var")
    """Local state: embedded ClickHouse, the RocksDB state store, Faust's app directory."""
    config_dir: Path = REPO_ROOT / "config"
    """Reference data: units.csv and friends."""
    log_level: str = "info"
    kafka: KafkaSettings = KafkaSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    web: WebSettings = WebSettings()
    stream: StreamSettings = StreamSettings()
    health: HealthSettings = HealthSettings()
    assessment: AssessmentSettings = AssessmentSettings()

    @property
    def units_path(self) -> Path:
        return self.config_dir / "units.csv"

    @property
    def scoring_path(self) -> Path:
        path = Path(self.assessment.scoring_file)
        return path if path.is_absolute() else self.config_dir / path

    def clickhouse_dsn(self) -> str:
        """The ClickHouse DSN in force (secret: do not log it)."""
        if self.clickhouse.dsn is not None:
            return self.clickhouse.dsn.get_secret_value()
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    def redacted_clickhouse_dsn(self) -> str:
        """The DSN with any password replaced by ``***``, for logs and banners."""
        dsn = self.clickhouse_dsn()
        scheme, sep, rest = dsn.partition("://")
        if "@" in rest:
            creds, _, host = rest.rpartition("@")
            user = creds.split(":", 1)[0]
            return f"{scheme}{sep}{user}:***@{host}"
        return dsn
