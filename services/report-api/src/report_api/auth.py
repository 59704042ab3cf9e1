"""Bearer-token authentication of the /v1 API, and the scopes a token carries.

`SLA_API_TOKENS` is a comma-separated list of `token` or `token:scope+scope`; a token without
scopes may read the reports (`reports:read`), as every token could before scopes existed.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from report_api.problems import ProblemError

READ_REPORTS = "reports:read"
ADMIN_POLICIES = "policies:admin"
SCOPES = frozenset({READ_REPORTS, ADMIN_POLICIES})
DEFAULT_SCOPES = frozenset({READ_REPORTS})


@dataclass(frozen=True)
class Grant:
    """A configured token and the scopes it carries."""

    token: str
    scopes: frozenset[str]


def parse_grants(raw: str) -> tuple[Grant, ...]:
    """`token` or `token:scope+scope`, comma-separated; blanks dropped, scopes not checked.

    The token ends at the first `:` (scopes such as `reports:read` have one of their own)."""
    grants = []
    for item in raw.split(","):
        token, sep, scopes = item.strip().partition(":")
        token = token.strip()
        if not token:
            continue
        named = frozenset(s.strip() for s in scopes.split("+") if s.strip())
        grants.append(Grant(token, named if sep and named else DEFAULT_SCOPES))
    return tuple(grants)


def unknown_scopes(grants: Iterable[Grant]) -> list[str]:
    """The scopes named in `grants` that the API does not know, sorted."""
    return sorted({s for g in grants for s in g.scopes} - SCOPES)


class TokenCheck:
    """Accepts a request whose bearer token equals one of the grants' tokens and carries the
    scope the route needs (any request, when `open`)."""

    def __init__(self, grants: Iterable[Grant | str], *, open: bool = False) -> None:
        self._grants = tuple(
            (g.token.encode(), g.scopes) if isinstance(g, Grant) else (g.encode(), DEFAULT_SCOPES)
            for g in grants
        )
        self._open = open

    def verify(self, presented: str | None, scope: str = READ_REPORTS) -> None:
        """Return when allowed; raise a 401 problem with a WWW-Authenticate challenge without a
        valid token, a 403 problem naming `scope` when the token does not carry it.

        Compares against EVERY configured token with hmac.compare_digest, so the time taken
        reveals neither which token matched nor how much of one did."""
        if self._open:
            return
        if not presented:
            raise ProblemError(
                401,
                "Authentication required",
                "send Authorization: Bearer <token>",
                slug="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="report-api"'},
            )
        candidate = presented.encode()
        matched = False
        granted: frozenset[str] = frozenset()
        for token, scopes in self._grants:
            equal = hmac.compare_digest(token, candidate)
            matched |= equal
            granted = scopes if equal else granted
        if not matched:
            raise ProblemError(
                401,
                "Invalid token",
                "the bearer token is not valid",
                slug="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="report-api", error="invalid_token"'},
            )
        if scope not in granted:
            raise ProblemError(
                403,
                "Missing scope",
                f"this route needs a token with the scope {scope}",
                slug="forbidden",
                headers={
                    "WWW-Authenticate": f'Bearer realm="report-api", error="insufficient_scope", '
                    f'scope="{scope}"'
                },
            )
