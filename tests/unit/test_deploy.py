"""The deployment artefacts against the code: docker-compose.yml, the Dockerfiles, .dockerignore,
Prometheus, Grafana and the Kubernetes manifests.

Nothing here runs Docker or Kubernetes: the files are parsed and checked against the settings
classes, the metrics the services declare, and each other.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from report_api.config import ApiSettings
from sla_engine.config import EngineSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
PROMETHEUS = REPO / "deploy" / "prometheus"
GRAFANA = REPO / "deploy" / "grafana"
K8S = REPO / "deploy" / "k8s"
POLICY_EXAMPLE = REPO / "deploy" / "policy.example.yaml"

# Which settings class reads the environment of a container, by Dockerfile and by image name.
SETTINGS_BY_DOCKERFILE: dict[str, type[BaseSettings]] = {
    "services/sla-engine/Dockerfile": EngineSettings,
    "services/report-api/Dockerfile": ApiSettings,
}
SETTINGS_BY_IMAGE: dict[str, type[BaseSettings]] = {
    "sla-engine": EngineSettings,
    "sla-report-api": ApiSettings,
}
PACKAGES = {"sla-engine": "sla_engine", "report-api": "report_api"}


# ---- the metrics the services expose (SPEC.md section 7) ------------------------------------


@dataclass(frozen=True)
class Family:
    kind: str  # counter, gauge or histogram
    labels: tuple[str, ...] = ()


# The contract between the services and the dashboard and alerts. A metric a service declares
# must be listed here (test_metric_catalogue_matches_the_code), under its exposed name.
METRICS: dict[str, dict[str, Family]] = {
    "sla-engine": {
        "sla_engine_events_consumed_total": Family("counter", ("type",)),
        "sla_engine_events_rejected_total": Family("counter", ("reason",)),
        "sla_engine_sla_events_emitted_total": Family("counter", ("type",)),
        "sla_engine_open_timers": Family("gauge"),
        "sla_engine_tickets_packed": Family("gauge"),
        "sla_engine_policy_versions_held": Family("gauge"),
        "sla_engine_breaches_total": Family("counter", ("level", "metric", "department")),
        "sla_engine_watermark_lag_seconds": Family("gauge", ("partition",)),
        "sla_engine_breach_emit_delay_seconds": Family("histogram"),
        "sla_engine_processing_seconds": Family("histogram"),
        "sla_engine_policy_reloads_total": Family("counter", ("result",)),
        "sla_engine_future_events_clamped_total": Family("counter"),
        "sla_engine_timezone_fallbacks_total": Family("counter", ("calendar",)),
        "sla_engine_dead_letters_total": Family("counter", ("reason",)),
        "sla_engine_snapshot_seconds": Family("histogram"),
    },
    "report-api": {
        "report_api_projection_events_total": Family("counter", ("type", "outcome")),
        "report_api_projection_lag_seconds": Family("gauge"),
        "report_api_projection_records_behind": Family("gauge"),
        "report_api_projection_batch_seconds": Family("histogram"),
        "report_api_offsets_past_end": Family("gauge", ("consumer",)),
        "report_api_projection_position_conflicts_total": Family("counter"),
        "report_api_projection_errors_total": Family("counter"),
        "report_api_archive_records_total": Family("counter", ("outcome",)),
        "report_api_archive_records_behind": Family("gauge"),
        "report_api_archive_batch_seconds": Family("histogram"),
        "report_api_archive_position_conflicts_total": Family("counter"),
        "report_api_archive_errors_total": Family("counter"),
        "report_api_http_requests_total": Family("counter", ("route", "method", "status")),
        "report_api_http_request_duration_seconds": Family("histogram", ("route", "method")),
    },
}
# What SPEC.md section 7 says a dashboard needs: each of these has a panel.
ON_DASHBOARD = {
    "sla_engine_events_consumed_total",
    "sla_engine_events_rejected_total",
    "sla_engine_sla_events_emitted_total",
    "sla_engine_open_timers",
    "sla_engine_breaches_total",
    "sla_engine_watermark_lag_seconds",
    "sla_engine_breach_emit_delay_seconds",
    "sla_engine_processing_seconds",
    "sla_engine_dead_letters_total",
    "sla_engine_policy_reloads_total",
    "report_api_projection_lag_seconds",
    "report_api_projection_events_total",
    "report_api_http_requests_total",
    "report_api_http_request_duration_seconds",
}
TARGET_LABELS = {"job", "instance"}


@cache
def series() -> dict[str, frozenset[str]]:
    """Every series name Prometheus stores for the catalogue, with the labels it may carry."""
    out: dict[str, frozenset[str]] = {"up": frozenset(TARGET_LABELS)}
    for families in METRICS.values():
        for name, family in families.items():
            labels = frozenset(family.labels) | TARGET_LABELS
            if family.kind == "histogram":
                out[f"{name}_bucket"] = labels | {"le"}
                out[f"{name}_sum"] = labels
                out[f"{name}_count"] = labels
            else:
                out[name] = labels
    return out


# ---- a small PromQL reader: which metrics, labels and functions an expression uses ----------

PROMQL_FUNCTIONS = set(
    """sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk
    limit_ratio abs absent absent_over_time ceil changes clamp clamp_max clamp_min day_of_month
    day_of_week day_of_year days_in_month delta deriv exp floor histogram_quantile
    histogram_count histogram_sum histogram_fraction histogram_avg histogram_stddev
    histogram_stdvar holt_winters double_exponential_smoothing hour idelta increase irate
    label_join label_replace ln log2 log10 minute month predict_linear rate resets round scalar
    sgn sort sort_desc sort_by_label sort_by_label_desc sqrt time timestamp vector year
    avg_over_time min_over_time max_over_time sum_over_time count_over_time quantile_over_time
    stddev_over_time stdvar_over_time last_over_time present_over_time mad_over_time""".split()  # noqa: SIM905
)
PROMQL_KEYWORDS = {"bool", "and", "or", "unless", "offset", "inf", "nan", "atan2"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GRAFANA_VARIABLE = re.compile(r"\$\{?[A-Za-z_]\w*\}?")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][\w:]*")


@dataclass(frozen=True)
class PromQL:
    metrics: frozenset[str]
    labels: frozenset[str]
    functions: frozenset[str]
    jobs: frozenset[str]


def read_promql(expr: str) -> PromQL:
    jobs = frozenset(re.findall(r'\bjob\s*=\s*"([^"]*)"', expr))
    text = _GRAFANA_VARIABLE.sub("", _STRING.sub('""', expr))
    labels: set[str] = set()
    for match in _MATCHERS.finditer(text):
        labels.update(_MATCHER_LABEL.findall(match.group(1)))
    text = _RANGE.sub(" ", _MATCHERS.sub(" ", text))
    for match in _GROUPING.finditer(text):
        labels.update(name.strip() for name in match.group(1).split(",") if name.strip())
    text = _GROUPING.sub(" ", text)
    metrics: set[str] = set()
    functions: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        before = text[match.start() - 1] if match.start() else " "
        if before.isalnum() or before == ".":
            continue  # the exponent or unit of a number: 1e3, 5m
        name = match.group()
        if text[match.end() :].lstrip().startswith("("):
            functions.add(name)
        elif name.lower() not in PROMQL_KEYWORDS:
            metrics.add(name)
    return PromQL(frozenset(metrics), frozenset(labels), frozenset(functions), jobs)


def assert_known_promql(expr: str, where: str) -> PromQL:
    known = series()
    query = read_promql(expr)
    assert query.metrics, f"{where}: no metric in {expr!r}"
    unknown = query.metrics - set(known)
    assert not unknown, f"{where}: unknown metric(s) {sorted(unknown)} in {expr!r}"
    assert query.functions <= PROMQL_FUNCTIONS, f"{where}: unknown function in {expr!r}"
    allowed = set().union(*(known[m] for m in query.metrics))
    assert query.labels <= allowed, (
        f"{where}: label(s) {sorted(query.labels - allowed)} not on {sorted(query.metrics)}"
    )
    return query


def test_promql_reader() -> None:
    query = read_promql(
        "histogram_quantile(0.99, sum by (le, route) (rate(report_api_http_request_duration"
        '_seconds_bucket{route=~"$route", status!="500"}[$__rate_interval]))) > 1e3'
    )
    assert query.metrics == {"report_api_http_request_duration_seconds_bucket"}
    assert query.labels == {"le", "route", "status"}
    assert query.functions == {"histogram_quantile", "sum", "rate"}
    assert read_promql('up{job="sla-engine"} == 0 or absent(up)').jobs == {"sla-engine"}


_DECLARATION = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*[\"']([A-Za-z_:][\w:]*)[\"']")
_LABEL_NAMES = re.compile(r"[\[(]\s*((?:[\"']\w+[\"']\s*,?\s*)+)[\])]")


def _declared_metrics(service: str) -> dict[str, Family]:
    """The metrics the service's code declares with prometheus_client, by exposed name."""
    src = REPO / "services" / service / "src" / PACKAGES[service]
    declared: dict[str, Family] = {}
    for path in sorted(src.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        matches = list(_DECLARATION.finditer(text))
        for i, match in enumerate(matches):
            kind, name = match.group(1).lower(), match.group(2)
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            call = text[match.end() : end]
            labels = _LABEL_NAMES.search(call.split("registry=")[0])
            names = tuple(re.findall(r"\w+", labels.group(1))) if labels else ()
            exposed = f"{name.removesuffix('_total')}_total" if kind == "counter" else name
            declared[exposed] = Family(kind, names)
    return declared


@pytest.mark.parametrize("service", sorted(METRICS))
def test_metric_catalogue_matches_the_code(service: str) -> None:
    declared = _declared_metrics(service)
    if not declared:
        pytest.skip(f"{service} declares no Prometheus metrics yet")
    catalogue = METRICS[service]
    assert set(declared) == set(catalogue), (
        "the metrics the code declares and the catalogue in this test (used by the alerts and "
        f"the dashboard) differ: only in code {sorted(set(declared) - set(catalogue))}, only "
        f"in the catalogue {sorted(set(catalogue) - set(declared))}"
    )
    for name, family in catalogue.items():
        assert declared[name] == family, f"{name}: code {declared[name]}, catalogue {family}"


# ---- docker-compose.yml ---------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<default>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_]\w*)"
)


def interpolate(value: Any) -> str:
    """Compose interpolation with every variable unset: `${X:-default}` gives the default."""

    def substitute(match: re.Match[str]) -> str:
        if match.group() == "$$":
            return "$"
        if match["braced"] and match["op"] in ("-", ":-"):
            return match["default"]
        return ""

    return _INTERPOLATION.sub(substitute, str(value))


@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): interpolate(v) for k, v in env.items()}


def settings_class(service: dict[str, Any]) -> type[BaseSettings] | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        build = {"context": build}
    dockerfile = (REPO / build["context"] / build.get("dockerfile", "Dockerfile")).resolve()
    return SETTINGS_BY_DOCKERFILE.get(dockerfile.relative_to(REPO).as_posix())


def sla_values(env: dict[str, str]) -> dict[str, str]:
    return {k.removeprefix("SLA_").lower(): v for k, v in env.items() if k.startswith("SLA_")}


def assert_settings(cls: type[BaseSettings], env: dict[str, str], where: str) -> BaseSettings:
    """Every SLA_ variable is a field of the settings class, and the values validate."""
    for name in env:
        if name.startswith("SLA_"):
            assert name == name.upper(), f"{where}: {name} is not upper case"
    unknown = sorted(set(sla_values(env)) - set(cls.model_fields))
    assert not unknown, f"{where}: {unknown} are not fields of {cls.__name__}"
    # model_validate does not read the process environment: only these values count.
    return cls.model_validate(sla_values(env))


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume; a bind source starts with . or /."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            out.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            source, target = interpolate(volume).split(":")[:2]
            out.append((source, target))
    return out


def host_path(source: str) -> Path:
    return (COMPOSE.parent / source).resolve()


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def container_path(service: dict[str, Any], path: str) -> Path | None:
    """The repository path behind a path inside the container, through its bind mounts."""
    for source, target in mounts(service):
        if is_bind(source) and (path == target or path.startswith(target.rstrip("/") + "/")):
            return host_path(source) / path[len(target) :].lstrip("/")
    return None


def test_compose_has_the_system() -> None:
    assert set(services()) >= {
        "kafka",
        "topic-init",
        "postgres",
        "report-api-migrate",
        "report-api",
        "sla-engine",
        "prometheus",
        "grafana",
    }
    declared = set(compose().get("volumes") or {})
    for name, service in services().items():
        for source, _ in mounts(service):
            assert is_bind(source) or source in declared, f"{name}: volume {source} not declared"


def test_compose_builds_use_existing_dockerfiles_and_matching_image_names() -> None:
    built = {name: s for name, s in services().items() if "build" in s}
    assert set(built) == {"report-api-migrate", "report-api", "sla-engine"}
    for name, service in built.items():
        build = service["build"]
        context = REPO / build["context"]
        assert context.is_dir(), f"{name}: no context {context}"
        assert (context / build["dockerfile"]).is_file(), f"{name}: no {build['dockerfile']}"
        cls = settings_class(service)
        assert cls is not None, f"{name}: no settings class for {build['dockerfile']}"
        image = interpolate(service["image"]).split(":")[0]
        assert SETTINGS_BY_IMAGE.get(image) is cls, f"{name}: image {image} vs {cls.__name__}"


def test_compose_sla_variables_are_settings_fields() -> None:
    for name, service in services().items():
        env = environment(service)
        cls = settings_class(service)
        if cls is None:
            assert not sla_values(env), f"{name} has SLA_ variables but runs no service of ours"
            continue
        assert_settings(cls, env, f"docker-compose {name}")


def test_compose_bind_mounts_exist() -> None:
    for name, service in services().items():
        for source, _ in mounts(service):
            if is_bind(source):
                assert host_path(source).exists(), f"{name}: {source} does not exist"


def test_compose_policy_file_is_the_mounted_example() -> None:
    assert POLICY_EXAMPLE.is_file(), "deploy/policy.example.yaml is mounted by the compose file"
    for name in ("sla-engine", "report-api"):
        service = services()[name]
        policy = environment(service)["SLA_POLICY_FILE"]
        assert container_path(service, policy) == POLICY_EXAMPLE, f"{name}: {policy}"


def test_compose_topic_init_creates_the_settings_topics() -> None:
    script = interpolate(services()["topic-init"]["command"][0])
    partitions = {
        topic: int(count)
        for topic, count in re.findall(r'^topic "([^"]+)" (\d+)', script, flags=re.MULTILINE)
    }
    settings = EngineSettings()
    topics = [settings.ticket_topic, settings.events_topic, settings.breach_topic]
    assert set(partitions) == {*topics, settings.dlq_topic}
    assert partitions[settings.ticket_topic] == 6
    # The projection scales by the partitions of sla.events, like the engine by tickets.events.
    assert partitions[settings.events_topic] == partitions[settings.ticket_topic]
    # Whatever topic names the variables give, engine and topic-init use the same ones.
    engine = services()["sla-engine"]["environment"]
    raw = services()["topic-init"]["command"][0]
    for variable in ("SLA_TICKET_TOPIC", "SLA_EVENTS_TOPIC", "SLA_BREACH_TOPIC", "SLA_DLQ_TOPIC"):
        assert engine[variable] in raw, f"topic-init does not use {engine[variable]}"


def test_compose_engine_scales_out() -> None:
    engine = services()["sla-engine"]
    assert "ports" not in engine, "a fixed host port collides between replicas"
    assert "container_name" not in engine, "a fixed container name prevents replicas"
    assert engine["deploy"]["replicas"] >= 2
    script = interpolate(services()["topic-init"]["command"][0])
    ticket_partitions = int(re.search(r'^topic "tickets\.events" (\d+)', script, re.M)[1])  # type: ignore[index]
    assert engine["deploy"]["replicas"] <= ticket_partitions
    assert environment(engine)["SLA_KAFKA_IDEMPOTENCE"] == "true"
    assert engine["command"] == ["run"]


def test_compose_report_api_starts_after_its_migrations() -> None:
    migrate, api = services()["report-api-migrate"], services()["report-api"]
    assert migrate["command"] == ["migrate"]
    assert api["command"] == ["serve"]
    assert api["depends_on"]["report-api-migrate"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("report-api", "sla-engine"):
        depends = services()[name]["depends_on"]
        assert depends["topic-init"]["condition"] == "service_completed_successfully", name
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    token = environment(api)["SLA_API_TOKENS"]
    assert token == "change-me-demo-token"


def test_compose_connections_point_at_kafka_and_postgres() -> None:
    kafka = environment(services()["kafka"])
    postgres = services()["postgres"]
    pg = environment(postgres)
    assert postgres["image"] == "postgres:18"
    # PostgreSQL 18 images keep their data under /var/lib/postgresql/18/docker.
    assert ("postgres-data", "/var/lib/postgresql") in mounts(postgres)
    assert "healthcheck" in postgres and "healthcheck" in services()["kafka"]
    assert set(kafka["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    expected_db = f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/"
    for name, service in services().items():
        env = environment(service)
        if "SLA_KAFKA_BOOTSTRAP_SERVERS" in env:
            for server in env["SLA_KAFKA_BOOTSTRAP_SERVERS"].split(","):
                assert f"://{server}" in kafka["KAFKA_ADVERTISED_LISTENERS"], name
        if "SLA_DATABASE_URL" in env:
            assert env["SLA_DATABASE_URL"] == expected_db + pg["POSTGRES_DB"], name


# ---- Dockerfiles and .dockerignore ----------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") and not pending:
            continue
        if line.lstrip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            instruction, _, args = pending.strip().partition(" ")
            out.append((instruction.upper(), args.strip()))
        pending = ""
    return out


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus `**`) as a regular expression."""
    regex, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                regex += "(?:.*/)?"
            else:
                regex += ".*"
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            regex += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
            i = end
        else:
            regex += re.escape(char)
        i += 1
    return re.compile(regex)


def dockerignored(path: str) -> bool:
    """Whether the build context leaves the path out; the last matching pattern decides."""
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for line in (line.strip() for line in lines):
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        regex = _dockerignore_regex(pattern)
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    for path in (".venv/bin/python", ".git/HEAD", ".run/pgdata", "tests/unit", "bench/out"):
        assert dockerignored(path), path
    for path in ("libs/sla-core/src/sla_core/__pycache__/x.pyc", "libs/sla-core/src/x.egg-info"):
        assert dockerignored(path), path
    assert not dockerignored("libs/sla-core/pyproject.toml")


def local_packages(package: str) -> set[str]:
    """The package and every package of this repository it depends on, by folder."""
    found = {package}
    meta = tomllib.loads((REPO / package / "pyproject.toml").read_text())
    for requirement in meta["project"].get("dependencies", []):
        name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
        if (REPO / "libs" / name / "pyproject.toml").exists():
            found |= local_packages(f"libs/{name}")
    return found


@pytest.mark.parametrize("service", sorted(PACKAGES))
def test_dockerfile(service: str) -> None:
    relative = f"services/{service}/Dockerfile"
    instructions = dockerfile_instructions(REPO / relative)
    cls = SETTINGS_BY_DOCKERFILE[relative]
    args = dict(
        a.split("=", 1) for kind, a in instructions if kind == "ARG" and "=" in a
    )  # build arguments with their defaults
    bases = [a.split()[0] for kind, a in instructions if kind == "FROM"]
    for base in bases:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)
        assert resolved == "python:3.11-slim", f"{relative}: FROM {base}"

    copied = []
    for kind, arguments in instructions:
        if kind != "COPY" or "--from=" in arguments:
            continue
        words = [w for w in shlex.split(arguments) if not w.startswith("--")]
        copied += words[:-1]
    assert copied
    for source in copied:
        assert (REPO / source).exists(), f"{relative}: COPY {source} does not exist"
        assert not dockerignored(source), f"{relative}: .dockerignore leaves out {source}"
        if (REPO / source / "pyproject.toml").exists():
            assert not dockerignored(f"{source.rstrip('/')}/pyproject.toml")
    assert "constraints.txt" in copied

    (install,) = [a for kind, a in instructions if kind == "RUN" and "pip install" in a]
    words = install.split("pip install", 1)[1].split()
    assert "-c" in words and words[words.index("-c") + 1] == "constraints.txt"
    packages = {w.strip("./").rstrip("/") for w in words if "/" in w}
    assert packages == local_packages(f"services/{service}")

    users = [a for kind, a in instructions if kind == "USER"]
    assert users and users[-1] not in ("root", "0"), f"{relative}: runs as root"
    (healthcheck,) = [a for kind, a in instructions if kind == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "urllib" in healthcheck

    env: dict[str, str] = {}
    for kind, arguments in instructions:
        if kind == "ENV":
            for word in shlex.split(arguments):
                name, _, value = word.partition("=")
                env[name] = value
    settings = assert_settings(cls, env, relative)
    port_field = "engine_http_port" if cls is EngineSettings else "api_port"
    exposed = [int(a.split("/")[0]) for kind, a in instructions if kind == "EXPOSE"]
    assert exposed == [getattr(settings, port_field)]

    scripts = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    (entrypoint,) = [json.loads(a) for kind, a in instructions if kind == "ENTRYPOINT"]
    assert entrypoint == [service], "the console script of the service"
    assert service in scripts["project"]["scripts"]


# ---- Prometheus -----------------------------------------------------------------------------


@cache
def prometheus_config() -> dict[str, Any]:
    return yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def scrape_jobs() -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}


def test_prometheus_config_scrapes_the_services_on_their_ports() -> None:
    prometheus = services()["prometheus"]
    for rule_file in prometheus_config()["rule_files"]:
        path = container_path(prometheus, rule_file)
        assert path is not None and path.is_file(), f"rule file {rule_file} is not mounted"
    command = " ".join(prometheus["command"])
    config = re.search(r"--config\.file=(\S+)", command)
    assert config and container_path(prometheus, config[1]) == PROMETHEUS / "prometheus.yml"

    jobs = scrape_jobs()
    engine_port = EngineSettings.model_validate(
        sla_values(environment(services()["sla-engine"]))
    ).engine_http_port
    api_port = ApiSettings.model_validate(sla_values(environment(services()["report-api"])))
    (dns,) = jobs["sla-engine"]["dns_sd_configs"]
    assert dns["names"] == ["sla-engine"] and dns["port"] == engine_port
    targets = [t for c in jobs["report-api"]["static_configs"] for t in c["targets"]]
    assert targets == [f"report-api:{api_port.api_port}"]
    for job in ("sla-engine", "report-api"):
        assert jobs[job].get("metrics_path", "/metrics") == "/metrics"


def _heading_anchors(markdown: str) -> set[str]:
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", title)))
    return anchors


def test_alert_rules() -> None:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = [rule["alert"] for rule in alerts]
    assert len(names) == len(set(names))
    runbook = _heading_anchors((K8S / "README.md").read_text(encoding="utf-8"))
    used: set[str] = set()
    for rule in alerts:
        where = f"alert {rule['alert']}"
        query = assert_known_promql(rule["expr"], where)
        used |= query.metrics
        assert query.jobs <= set(scrape_jobs()), f"{where}: unknown job {query.jobs}"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, where
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], where
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "deploy/k8s/README.md" and anchor in runbook, f"{where}: runbook {anchor}"
    # The alerts the operators asked for.
    for needed in (
        "up",
        "sla_engine_breaches_total",
        "sla_engine_watermark_lag_seconds",
        "sla_engine_dead_letters_total",
        "sla_engine_policy_reloads_total",
        "report_api_projection_lag_seconds",
    ):
        assert needed in used, f"no alert on {needed}"


# ---- Grafana --------------------------------------------------------------------------------


def _grafana_yaml(kind: str) -> list[dict[str, Any]]:
    files = sorted((GRAFANA / "provisioning" / kind).glob("*.y*ml"))
    assert files, f"no {kind} provisioning"
    return [yaml.safe_load(f.read_text(encoding="utf-8")) for f in files]


@cache
def dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "sla.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def test_grafana_provisioning_matches_compose() -> None:
    grafana = services()["grafana"]
    (datasources,) = _grafana_yaml("datasources")
    (prometheus,) = datasources["datasources"]
    assert prometheus["uid"] == "prometheus" and prometheus["type"] == "prometheus"
    assert prometheus["url"] == "http://prometheus:9090"
    assert "prometheus" in services()
    (providers,) = _grafana_yaml("dashboards")
    for provider in providers["providers"]:
        folder = container_path(grafana, provider["options"]["path"])
        assert folder == GRAFANA / "dashboards", provider
        assert (folder / "sla.json").is_file()
    assert container_path(grafana, "/etc/grafana/provisioning") == GRAFANA / "provisioning"
    env = environment(grafana)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    home = container_path(grafana, env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home == GRAFANA / "dashboards" / "sla.json"


def test_dashboard_queries_use_known_metrics() -> None:
    board = dashboard()
    assert 36 <= board["schemaVersion"] <= 41 and board["uid"] and board["title"]
    used: set[str] = set()
    occupied: set[tuple[int, int]] = set()
    for panel in panels(board["panels"]):
        grid = panel["gridPos"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert grid["x"] + grid["w"] <= 24 and not cells & occupied, panel["title"]
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            query = assert_known_promql(target["expr"], f"panel {panel['title']!r}")
            used |= query.metrics
    for variable in board["templating"]["list"]:
        match = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", variable["definition"])
        assert match and match[2] in series()[match[1]], variable["name"]
    missing = [
        name
        for name in sorted(ON_DASHBOARD)
        if not {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"} & used
    ]
    assert not missing, f"no panel shows {missing}"


# ---- Kubernetes -----------------------------------------------------------------------------


@cache
def manifests() -> dict[str, list[dict[str, Any]]]:
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
        for path in sorted(K8S.glob("*.yaml"))
    }


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for name, docs in manifests().items():
        if name == "kustomization.yaml":
            continue
        for doc in docs:
            out[(doc["kind"], doc["metadata"]["name"])] = doc
    return out


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def container_settings(container: dict[str, Any]) -> type[BaseSettings]:
    image = container["image"].rsplit("/", 1)[-1].split(":")[0]
    return SETTINGS_BY_IMAGE[image]


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def test_manifests_parse_and_are_named() -> None:
    assert manifests()
    for name, docs in manifests().items():
        assert docs, name
        for doc in docs:
            assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"], name
            assert "namespace" not in doc["metadata"], f"{name}: manifests are namespace-less"
    (kustomization,) = manifests()["kustomization.yaml"]
    assert set(kustomization["resources"]) == set(manifests()) - {"kustomization.yaml"}


def test_manifest_references_resolve() -> None:
    found = resources()
    for (kind, name), doc in found.items():
        if kind not in ("Deployment", "Job"):
            continue
        spec = pod_spec(doc)
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for volume in volumes.values():
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in found, f"{kind} {name}"
        for container in spec["containers"]:
            env = container.get("env", [])
            names: dict[str, str] = {}  # a secret's example value, or "" for other references
            for variable in env:
                names[variable["name"]] = ""
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = found[("Secret", ref["name"])]
                    assert ref["key"] in secret["stringData"], f"{name}: {ref}"
                    names[variable["name"]] = secret["stringData"][ref["key"]]
            assert container.get("envFrom") is None, "explicit env, checked against settings"
            assert_settings(container_settings(container), names | literal_env(container), name)
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{name}: {mount['name']}"
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True


def _probe_port(container: dict[str, Any], probe: str, path: str) -> int:
    get = container[probe]["httpGet"]
    assert get["path"] == path, f"{probe} is {get['path']}"
    return resolve_port(container, get["port"])


def _policy_mount(workload: dict[str, Any], container: dict[str, Any]) -> None:
    """SLA_POLICY_FILE names a key of the policy ConfigMap, mounted as a directory."""
    policy = Path(literal_env(container)["SLA_POLICY_FILE"])
    volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == policy.parent]
    assert "subPath" not in mount, "a subPath mount never sees ConfigMap updates"
    configmap = resources()[("ConfigMap", volumes[mount["name"]]["configMap"]["name"])]
    assert policy.name in configmap["data"]


def test_engine_deployment() -> None:
    engine = resources()[("Deployment", "sla-engine")]
    assert engine["spec"]["replicas"] == 3
    (container,) = pod_spec(engine)["containers"]
    settings = EngineSettings.model_validate(sla_values(literal_env(container)))
    port = settings.engine_http_port
    assert _probe_port(container, "readinessProbe", "/readyz") == port
    assert _probe_port(container, "livenessProbe", "/healthz") == port
    annotations = engine["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port
    assert annotations["prometheus.io/path"] == "/metrics"
    assert container["args"] == ["run"]
    requests = container["resources"]["requests"]
    assert requests["cpu"] and requests["memory"]
    _policy_mount(engine, container)
    # One consumer group: the replicas share the partitions, so there must be enough of them.
    assert settings.engine_group_id == EngineSettings().engine_group_id
    asyncapi = yaml.safe_load((REPO / "schemas" / "asyncapi.yaml").read_text(encoding="utf-8"))
    (tickets,) = [c for c in asyncapi["channels"].values() if c["address"] == "tickets.events"]
    assert engine["spec"]["replicas"] <= tickets["bindings"]["kafka"]["partitions"]

    pdb = resources()[("PodDisruptionBudget", "sla-engine")]
    labels = engine["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert engine["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_report_api_deployment_service_and_migrations() -> None:
    api = resources()[("Deployment", "report-api")]
    (container,) = pod_spec(api)["containers"]
    port = ApiSettings.model_validate(sla_values(literal_env(container))).api_port
    assert _probe_port(container, "readinessProbe", "/readyz") == port
    assert _probe_port(container, "livenessProbe", "/healthz") == port
    annotations = api["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port
    assert container["args"] == ["serve"]
    _policy_mount(api, container)

    service = resources()[("Service", "report-api")]
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    for service_port in service["spec"]["ports"]:
        assert resolve_port(container, service_port["targetPort"]) == port

    job = resources()[("Job", "report-api-migrate")]
    (migrate,) = pod_spec(job)["containers"]
    assert migrate["args"] == ["migrate"]
    assert container_settings(migrate) is ApiSettings
    assert migrate["image"] == container["image"]


def test_policy_configmap_is_the_example_policy() -> None:
    configmap = resources()[("ConfigMap", "sla-policy")]
    in_cluster = yaml.safe_load(configmap["data"]["policy.yaml"])
    example = yaml.safe_load(POLICY_EXAMPLE.read_text(encoding="utf-8"))
    assert in_cluster == example, (
        "deploy/k8s/policy-configmap.yaml differs from deploy/policy.example.yaml; regenerate it "
        "(the command is in its header)"
    )
