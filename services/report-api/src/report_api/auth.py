"""Bearer-token authentication of the /v1 API."""

from __future__ import annotations

import hmac

from report_api.problems import ProblemError


class TokenCheck:
    """Accepts a request whose bearer token equals one of `tokens` (or any, when `open`)."""

    def __init__(self, tokens: tuple[str, ...], *, open: bool = False) -> None:
        self._tokens = tuple(t.encode() for t in tokens)
        self._open = open

    def verify(self, presented: str | None) -> None:
        """Return when allowed; raise a 401 problem with a WWW-Authenticate challenge if not.

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
        for token in self._tokens:
            matched |= hmac.compare_digest(token, candidate)
        if not matched:
            raise ProblemError(
                401,
                "Invalid token",
                "the bearer token is not valid",
                slug="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="report-api", error="invalid_token"'},
            )
