"""Security settings: SASL/TLS reach every Kafka client, ClickHouse credentials reach the DSN,
and no secret is ever printed (a real `emc run` is grepped).

tansu 0.6.0 (the embedded broker) speaks SASL SCRAM with ``--authentication``, but on its
memory engine no user can be created (``tansu user create`` itself needs an authenticated
connection), so no client can log in there: the test shows our SCRAM settings reach the
broker's SASL exchange (it answers "unknown-user"), not a full SASL session.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streams.kafka.broker import free_port, tansu_binary
from streams.settings import Settings
from streams.worker.app import faust_credentials, kafka_configs

SASL_SECRET = "sasl-s3cret-value"


class _Collect(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


CH_SECRET = "ch p@ss/word"


def sasl_settings(**kafka: str) -> Settings:
    return Settings(
        kafka={
            "bootstrap_servers": "127.0.0.1:1",
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_username": "emc",
            "sasl_password": SASL_SECRET,
            **kafka,
        },
        clickhouse={"dsn": "http://clickhouse:8123", "user": "emc", "password": CH_SECRET},
    )


def test_sasl_and_tls_reach_worker_configs_and_secrets_stay_hidden() -> None:
    settings = sasl_settings()
    consumer, producer = kafka_configs(settings)
    for config in (consumer, producer):
        assert config["security.protocol"] == "sasl_ssl"
        assert config["sasl.mechanism"] == "SCRAM-SHA-256"
        assert config["sasl.password"] == SASL_SECRET
        assert config["ssl.endpoint.identification.algorithm"] == "https"
    creds = faust_credentials(settings)
    assert creds is not None and creds.username == "emc"
    assert SASL_SECRET not in repr(settings) and CH_SECRET not in repr(settings)
    assert SASL_SECRET not in str(settings.model_dump())


def test_sasl_needs_credentials() -> None:
    with pytest.raises(ValueError, match="sasl_username"):
        Settings(kafka={"security_protocol": "SASL_PLAINTEXT"})


def test_clickhouse_credentials_and_tls_in_the_dsn() -> None:
    settings = sasl_settings()
    settings = settings.model_copy(
        update={
            "clickhouse": settings.clickhouse.model_copy(
                update={"secure": True, "ca_cert": Path("/ca.pem"), "verify": False}
            )
        }
    )
    dsn = settings.clickhouse_dsn()
    assert dsn == "https://emc:ch%20p%40ss%2Fword@clickhouse:8123?ca_cert=%2Fca.pem&verify=false"
    assert CH_SECRET not in settings.redacted_clickhouse_dsn()
    assert "***" in settings.redacted_clickhouse_dsn()


def test_secrets_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "kafka_password"
    secret.write_text(SASL_SECRET + "\n", encoding="utf-8")
    monkeypatch.setenv("EMC_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("EMC_KAFKA__SASL_USERNAME", "emc")
    monkeypatch.setenv("EMC_KAFKA__SASL_PASSWORD_FILE", str(secret))
    settings = Settings()
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == SASL_SECRET
    monkeypatch.setenv("EMC_KAFKA__SASL_PASSWORD", "direct")  # a variable wins over the file
    assert Settings().kafka.sasl_password.get_secret_value() == "direct"  # type: ignore[union-attr]


@pytest.mark.integration
def test_scram_settings_reach_tansu_sasl_exchange(tmp_path: Path) -> None:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tmp_path / "tansu.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--authentication"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "RUST_LOG": "warn"},
        )  # fmt: skip
    errors: list[str] = []
    try:
        time.sleep(1.0)
        settings = Settings(
            kafka={
                "bootstrap_servers": f"127.0.0.1:{port}",
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": "emc",
                "sasl_password": SASL_SECRET,
            }
        )
        captured = logging.getLogger("test.sasl")
        captured.addHandler(_Collect(errors))
        captured.propagate = False
        admin = AdminClient({**settings.kafka.client_config(), "logger": captured})
        with pytest.raises(Exception):  # noqa: B017 - no user exists: it must not get in
            admin.list_topics(timeout=3)
        for _ in range(10):  # librdkafka hands its log lines over on poll
            admin.poll(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    assert any("SASL" in e and "unknown-user" in e for e in errors), errors


@pytest.mark.integration
def test_a_run_never_prints_a_secret(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EMC_")},
        "EMC_DATA_DIR": str(tmp_path / "data"),
        "EMC_WEB__PORT": str(free_port()),
        "EMC_INGEST__PORT": str(free_port()),
        "EMC_LOG_LEVEL": "debug",
        "EMC_CLICKHOUSE__PASSWORD": CH_SECRET,
        "EMC_KAFKA__SASL_USERNAME": "emc",
        "EMC_KAFKA__SASL_PASSWORD": SASL_SECRET,
        "EMC_WEB__TOKENS": "national=emc-secret-national-token",
    }
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "run", "--duration", "12", "--simulate", "50"],
        env=env, capture_output=True, timeout=180, check=False,
    )  # fmt: skip
    text = out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")
    assert out.returncode == 0, text[-3000:]
    assert "/TrackingMCDT" in text  # the run did start the ingest
    for secret in (SASL_SECRET, CH_SECRET, "emc-secret-national-token"):
        assert secret not in text
