"""The report API's settings: one frozen object, read from `SLA_` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from report_api.auth import SCOPES, Grant, parse_grants, unknown_scopes
from report_api.db import quote_identifier
from sla_edge.database_url import DatabaseUrl

# Values people paste from examples; a token like these protects nothing.
PLACEHOLDER_TOKENS = frozenset({"changeme", "change-me", "secret", "token", "password", "xxx"})
MIN_TOKEN_LENGTH = 8


class ConfigError(ValueError):
    """Settings the service refuses to start with; the message says which and why."""


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLA_", frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: DatabaseUrl = "postgresql://postgres@127.0.0.1:5433/sla"
    database_schema: str = Field(
        "public", description="Schema of the projection tables (a rebuild swaps into it)."
    )
    events_topic: str = "sla.events"
    projection_group_id: str = "report-api-projection"
    projection_enabled: bool = Field(True, description="`serve` runs the projection consumer.")
    kafka_session_timeout_ms: int = Field(
        10_000, ge=1000, description="Consumer group session timeout of the projection."
    )
    projection_max_records: int = Field(5000, ge=1, description="Records per projection batch.")
    projection_statement_timeout_ms: int = Field(
        120_000, ge=0, description="statement_timeout of the projection's connection (0: none)."
    )
    ticket_topic: str = Field("tickets.events", description="The ticket events the archive keeps.")
    archive_enabled: bool = Field(True, description="`serve` runs the archive consumer.")
    archive_group_id: str = "report-api-archive"
    archive_schema: str = Field(
        "sla_archive",
        description="Schema of the ticket event archive: its own, so a rebuild leaves it be.",
    )
    archive_max_records: int = Field(5000, ge=1, description="Records per archive batch.")
    whatif_processes: int = Field(
        2,
        ge=1,
        le=64,
        description="Worker processes of a what-if replay (partitions are shared among them).",
    )
    engine_schema: str = Field(
        "public", description="Schema of the engine's tables: the policy registry is read there."
    )
    api_tokens: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated bearer tokens, each `token` or `token:scope+scope` "
        "(scopes `reports:read`, `policies:admin`; none: `reports:read`).",
    )
    api_open: bool = Field(False, description="Serve without tokens (explicit opt-in).")
    api_host: str = "0.0.0.0"
    api_port: int = Field(8080, ge=0, le=65535)
    cursor_secret: SecretStr = Field(
        SecretStr(""),
        description="HMAC key of log cursors; empty: derived from the API tokens, so replicas "
        "sharing tokens accept each other's cursors.",
    )
    policy_file: Path | None = Field(
        None, description="Policy whose calendars give running timers' business seconds left."
    )
    statement_timeout_ms: int = Field(5000, gt=0)
    export_statement_timeout_ms: int = Field(
        600_000, ge=0, description="statement_timeout of CSV exports, which stream every row."
    )
    pool_min_size: int = Field(
        0, ge=0, description="0: connect on demand, so serve starts while PostgreSQL is down."
    )
    pool_max_size: int = Field(10, ge=1)
    log_level: str = "INFO"

    @field_validator("database_schema", "archive_schema", "engine_schema")
    @classmethod
    def _schema_is_identifier(cls, value: str) -> str:
        # It is spliced into SET search_path, so only plain identifiers are allowed.
        quote_identifier(value)  # raises ValueError unless a plain lower-case identifier
        return value

    def grants(self) -> tuple[Grant, ...]:
        """The configured bearer tokens with their scopes, blanks dropped."""
        return parse_grants(self.api_tokens.get_secret_value())

    def tokens(self) -> tuple[str, ...]:
        """The configured bearer tokens (without their scopes), blanks dropped."""
        return tuple(g.token for g in self.grants())

    def check_startable(self) -> None:
        """Raise ConfigError when the API would be unprotected or protected by a placeholder.

        No tokens is refused unless SLA_API_OPEN=true says so explicitly; so is a scope the API
        does not know (a typo would lock its holder out without a word)."""
        tokens = self.tokens()
        if not tokens and not self.api_open:
            raise ConfigError(
                "no API token configured: set SLA_API_TOKENS (comma-separated) "
                "or SLA_API_OPEN=true to serve without authentication"
            )
        for token in tokens:
            if token.lower() in PLACEHOLDER_TOKENS or len(token) < MIN_TOKEN_LENGTH:
                raise ConfigError(
                    f"SLA_API_TOKENS holds a placeholder or a token shorter than "
                    f"{MIN_TOKEN_LENGTH} characters"
                )
        unknown = unknown_scopes(self.grants())
        if unknown:
            raise ConfigError(
                f"SLA_API_TOKENS names unknown scope(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(SCOPES))}"
            )
