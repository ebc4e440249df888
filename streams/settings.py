"""One settings object for the whole process, read from the environment.

Variables use the ``EMC_`` prefix and ``__`` for nesting, e.g. ``EMC_KAFKA__BOOTSTRAP_SERVERS``,
``EMC_CLICKHOUSE__DSN``, ``EMC_WEB__PORT``. Secrets (the Kafka SASL password, TLS key passwords,
the ClickHouse password and DSN) are ``SecretStr``: their ``repr``/``str`` print ``**********``
and nothing in the project logs or echoes them (``tests/cli/test_secrets.py`` greps a run's
output). Each secret can also come from a file, the Docker-secrets way:
``EMC_KAFKA__SASL_PASSWORD_FILE=/run/secrets/kafka_password`` reads the file (trailing newline
dropped); a variable set directly wins over the file (:data:`SECRET_FIELDS` lists which fields
accept ``_FILE``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

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
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """librdkafka ``security.protocol``: TLS with ``SSL``/``SASL_SSL``, SASL with ``SASL_*``."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    """SASL mechanism when ``security_protocol`` is ``SASL_PLAINTEXT`` or ``SASL_SSL``."""
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    """Secret; also from ``EMC_KAFKA__SASL_PASSWORD_FILE``."""
    ssl_ca_location: Path | None = None
    """PEM file of the CA that signed the brokers' certificates (default: the system store)."""
    ssl_certificate_location: Path | None = None
    """Client certificate (PEM) for mutual TLS."""
    ssl_key_location: Path | None = None
    """Client private key (PEM) for mutual TLS."""
    ssl_key_password: SecretStr | None = None
    """Secret; also from ``EMC_KAFKA__SSL_KEY_PASSWORD_FILE``."""
    ssl_check_hostname: bool = True
    """Verify that the broker certificate names the host connected to."""

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_") and (
            not self.sasl_username or self.sasl_password is None
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_username and "
                "sasl_password (EMC_KAFKA__SASL_USERNAME, EMC_KAFKA__SASL_PASSWORD[_FILE])"
            )
        return self

    def client_config(self) -> dict[str, Any]:
        """librdkafka connection and security settings shared by every client this project
        opens (consumers, producers, admin): ``bootstrap.servers`` plus SASL/TLS.

        Holds the SASL and key passwords in clear: hand it to a client, never to a log."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.security_protocol.startswith("SASL_"):
            assert self.sasl_password is not None  # the validator saw to it
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username
            config["sasl.password"] = self.sasl_password.get_secret_value()
        if self.security_protocol in ("SSL", "SASL_SSL"):
            optional = {
                "ssl.ca.location": self.ssl_ca_location,
                "ssl.certificate.location": self.ssl_certificate_location,
                "ssl.key.location": self.ssl_key_location,
            }
            config.update({k: str(v) for k, v in optional.items() if v is not None})
            if self.ssl_key_password is not None:
                config["ssl.key.password"] = self.ssl_key_password.get_secret_value()
            config["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_check_hostname else "none"
            )
        return config

    def aiokafka_config(self) -> dict[str, Any]:
        """The same security as keyword arguments of aiokafka clients (Faust's driver):
        ``security_protocol``, ``sasl_*`` and an ``ssl_context`` built from the TLS files."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL_"):
            assert self.sasl_password is not None
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.security_protocol in ("SSL", "SASL_SSL"):
            import ssl

            context = ssl.create_default_context(
                cafile=str(self.ssl_ca_location) if self.ssl_ca_location else None
            )
            context.check_hostname = self.ssl_check_hostname
            if self.ssl_certificate_location is not None:
                context.load_cert_chain(
                    str(self.ssl_certificate_location),
                    str(self.ssl_key_location) if self.ssl_key_location else None,
                    self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
                )
            config["ssl_context"] = context
        return config


class ClickHouseSettings(BaseModel):
    """The analytical store. ``chdb://PATH`` is the embedded engine, ``http(s)://…`` a server."""

    dsn: SecretStr | None = None
    """Default: ``chdb://{EMC_DATA_DIR}/clickhouse`` (embedded). Secret (it may carry a
    password); also from ``EMC_CLICKHOUSE__DSN_FILE``."""
    user: str | None = None
    """ClickHouse user for a server DSN; overrides a user in the DSN."""
    password: SecretStr | None = None
    """Password of ``user``; overrides one in the DSN. Secret; also from
    ``EMC_CLICKHOUSE__PASSWORD_FILE``. Any characters (it is URL-quoted into the DSN)."""
    secure: bool = False
    """TLS to the server: an ``http://`` DSN becomes ``https://``."""
    ca_cert: Path | None = None
    """PEM file of the CA for the server's certificate (default: the system store)."""
    verify: bool = True
    """Verify the server's TLS certificate."""
    cluster: str | None = None
    """Name of a ClickHouse cluster (``remote_servers``): the schema is created ``ON CLUSTER``
    with Replicated engines and Distributed tables for reads (sinks/cluster.py)."""
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


class IngestSettings(BaseModel):
    """The HTTP ingest service (``emc ingest``): EMC's tracking call ``POST /TrackingMCDT``."""

    host: str = "127.0.0.1"
    port: int = Field(default=6068, ge=0, le=65535)
    sites_file: str = "sites.csv"
    """SiteId → unit_code map, relative to config_dir (or absolute)."""
    encoding: Literal["avro", "json"] = "avro"
    """Wire encoding of the events it produces."""
    max_batch: int = Field(default=1_000, ge=1)
    """Most calls in one ``POST /TrackingMCDT/batch`` request."""
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """Largest request body, bytes."""
    default_due_days: float | None = Field(default=15.0, gt=0)
    """Due date of a receipt that carries none (the original call has no due date), days after
    its receipt. A proposed default: on-time rates of such dossiers are only as right as it.
    Unset (``EMC_INGEST__DEFAULT_DUE_DAYS=``) makes ``DueDate`` required on receipts."""
    produce_timeout_s: float = Field(default=10.0, gt=0)
    """Longest wait for the broker to acknowledge a call's event before answering 503."""


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
    rocksdb_memory_mib: int = Field(default=64, ge=8)
    """Memory bound of the RocksDB state store, MiB (``store = rocksdb``): the block cache of
    data blocks, with the memtables (write buffers, up to half of it) counted against it.
    Index and bloom-filter blocks stay outside it, about 1.5 bytes per key
    (streams/kafka/state_store.py says why). RocksDB's own defaults leave the write buffers
    unbounded (per column family, beside an 8 MiB cache)."""
    changelog_split_bytes: int = Field(default=4096, ge=0)
    """Unit windows values from this size (bytes) go to the changelog as one record per changed
    bucket and a header, smaller ones whole (streams/kafka/unit_records.py); 0 splits every
    value. The default is about 30 buckets; below it one whole record costs less."""
    summary_interval_s: float = Field(default=5.0, gt=0)
    gc_threshold: int = Field(default=100_000, ge=0)
    """Allocations between two young-generation passes of Python's cyclic garbage collector
    in the worker (``gc.set_threshold``; CPython's default is 700). A batch leaves tens of
    thousands of live container objects (rows, states) until ClickHouse took them; at 700
    every few hundred allocations walked them again and promoted them into passes over the
    whole heap (docs/performance.md measures it). They are freed by reference counting, so a
    rare pass costs nothing but the memory of true cycles for a little longer. ``0`` keeps
    CPython's default."""


class RegistrySettings(BaseModel):
    """What the unit registry's lineage (config/units.csv ``successor``) does to events."""

    after_validity: Literal["dead_letter", "successor"] = "dead_letter"
    """An event of a merged-away unit stamped after its ``valid_to``: ``dead_letter`` (reason
    ``outside_validity``), or ``successor``: accepted and stored under its own code, and every
    report, score and status after the change counts it for the successor
    (``EMC_REGISTRY__AFTER_VALIDITY``; docs/design.md, "Registry lineage")."""


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
    reported_totals_tolerance: float = Field(default=0.05, ge=0, le=1)
    """Reported totals (``emc totals import``, topic ``emc.unit.reported-totals.v1``): a measure
    differs when ``|EMC - reported|`` exceeds this share of the reported count (and
    ``reported_totals_min_difference``). A **configurable default**: the seeds name the status
    ("cần đối soát số liệu") but no tolerance."""
    reported_totals_min_difference: int = Field(default=0, ge=0)
    """A difference of at most this many dossiers never counts (small units' noise); dossiers."""
    reported_totals_consumer: bool = True
    """Whether the worker consumes topic ``emc.unit.reported-totals.v1`` (consumer group
    ``{group_id}-reported-totals``)."""
    reported_totals_lookback_days: int = Field(default=100, ge=1, le=3660)
    """Reports of periods that ended within this many days before the evaluation instant decide
    the status (the current and the previous quarter by default), days."""


class RemindSettings(BaseModel):
    """Reminder letters (``emc remind``): the letter's issuing body, its deadline and what it
    counts. Every value here is a **configurable default** of this project, not a rule of the
    seeds: seed 000/001 (the letter of 18/01/2024) give the form, not these values.
    """

    deadline_working_days: int = Field(default=10, ge=1, le=250)
    """Deadline when neither ``--deadline`` nor ``--days`` is given: this many working days
    (working calendar of ``health``) after the letter's date."""
    recent_days: int = Field(default=7, ge=1, le=366)
    """Rejected messages are counted over this many days before the letter, days."""
    top_reasons: int = Field(default=3, ge=1, le=20)
    """How many reject (and lifecycle anomaly) reason codes a letter names, most frequent
    first."""
    issuer_parent: str = ""
    """Line above the issuing body in the header (e.g. the ministry of a department);
    empty: none."""
    issuer: str = "BỘ THÔNG TIN VÀ TRUYỀN THÔNG"
    """The issuing body, upper case as in seed 001's header. Since 1 March 2025 (Resolution
    176/2025/QH15) its remit is with Bộ Khoa học và Công nghệ: set the body that signs."""
    issuer_name: str = "Bộ Thông tin và Truyền thông"
    """The issuing body in running text ("đề nghị liên hệ với …")."""
    symbol: str = "BTTTT-CĐSQG"
    """The letter symbol after the number ("Số: 12/BTTTT-CĐSQG")."""
    place: str = "Hà Nội"
    """Place of issue in "Hà Nội, ngày … tháng … năm …"."""
    contact_unit: str = "Cục Chuyển đổi số quốc gia"
    """The department to contact for support (seed 001: Cục Chuyển đổi số quốc gia)."""
    contact: str = ""
    """Contact person, e-mail and telephone, printed as given; empty: the line is left out."""
    signer_authority: str = "KT. BỘ TRƯỞNG"
    """First line of the signature block (signing on behalf: "KT. BỘ TRƯỞNG")."""
    signer_title: str = "THỨ TRƯỞNG"
    """Second line of the signature block."""
    signer_name: str = ""
    """The signer's name; empty: a placeholder for the clerk to fill in."""
    copies: str = "Bộ trưởng (để b/c)"
    """"Nơi nhận" recipients besides the addressee ("Như trên") and the archive,
    separated by ``;``."""
    archive: str = "VT, CĐSQG"
    """The archive line of "Nơi nhận" ("Lưu: VT, CĐSQG.")."""


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
    ingest: IngestSettings = IngestSettings()
    registry: RegistrySettings = RegistrySettings()
    remind: RemindSettings = RemindSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Constructor arguments, then variables, then ``EMC_…_FILE`` secret files."""
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            _SecretFiles(settings_cls),
            file_secret_settings,
        )

    @property
    def units_path(self) -> Path:
        return self.config_dir / "units.csv"

    @property
    def scoring_path(self) -> Path:
        path = Path(self.assessment.scoring_file)
        return path if path.is_absolute() else self.config_dir / path

    def clickhouse_dsn(self) -> str:
        """The ClickHouse DSN in force (secret: do not log it), with ``clickhouse.user``,
        ``password``, ``secure``, ``ca_cert`` and ``verify`` applied to a server DSN
        (clickhouse-connect reads ``ca_cert``/``verify`` from the DSN's query)."""
        if self.clickhouse.dsn is None:
            return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"
        dsn = self.clickhouse.dsn.get_secret_value()
        ch = self.clickhouse
        parts = urlsplit(dsn)
        if parts.scheme not in ("http", "https"):
            return dsn
        scheme = "https" if ch.secure else parts.scheme
        user = quote(ch.user, safe="") if ch.user else parts.username
        password = quote(ch.password.get_secret_value(), safe="") if ch.password else parts.password
        host = parts.hostname or ""
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        if user:
            netloc = f"{user}:{password}@{netloc}" if password else f"{user}@{netloc}"
        query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
        if ch.ca_cert is not None:
            query["ca_cert"] = str(ch.ca_cert)
        if not ch.verify:
            query["verify"] = "false"
        return urlunsplit((scheme, netloc, parts.path, urlencode(query), parts.fragment))

    def redacted_clickhouse_dsn(self) -> str:
        """The DSN with any password replaced by ``***``, for logs and banners."""
        dsn = self.clickhouse_dsn()
        scheme, sep, rest = dsn.partition("://")
        if "@" in rest:
            creds, _, host = rest.rpartition("@")
            user = creds.split(":", 1)[0]
            return f"{scheme}{sep}{user}:***@{host}"
        return dsn


SECRET_FIELDS: tuple[tuple[str, str], ...] = (
    ("kafka", "sasl_password"),
    ("kafka", "ssl_key_password"),
    ("clickhouse", "dsn"),
    ("clickhouse", "password"),
)
"""(section, field) of the secrets that may come from a file: ``EMC_SECTION__FIELD_FILE``."""


class _SecretFiles(PydanticBaseSettingsSource):
    """``EMC_SECTION__FIELD_FILE=/path`` → the file's content for each of :data:`SECRET_FIELDS`
    (Docker/Compose secrets are files under ``/run/secrets``)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the whole mapping comes from __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for section, name in SECRET_FIELDS:
            variable = f"EMC_{section}__{name}_FILE".upper()
            path = os.environ.get(variable)
            if not path or os.environ.get(variable.removesuffix("_FILE")):
                continue
            try:
                value = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"{variable}: cannot read {path}: {exc.strerror}") from None
            found.setdefault(section, {})[name] = value
        return found
