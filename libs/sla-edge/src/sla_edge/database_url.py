"""PostgreSQL URLs: the one parser both services read `SLA_DATABASE_URL` with.

Accepted forms: `postgresql://`, `postgres://` and SQLAlchemy's `postgresql+asyncpg://`. The
settings keep the URL in its plain `postgresql://` form (`DatabaseUrl`); asyncpg takes that as
it is, and `sqlalchemy_url` names the asyncpg driver for Alembic.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_SCHEME = re.compile(r"^(postgresql|postgres)(\+asyncpg)?://", re.IGNORECASE)


def plain_url(url: str) -> str:
    """The URL as asyncpg takes it (`postgresql://...`); ValueError naming the accepted forms
    for any other scheme."""
    match = _SCHEME.match(url.strip())
    if match is None:
        scheme = url.split("://", 1)[0] if "://" in url else url[:20]
        raise ValueError(
            f"database URL scheme {scheme!r} is not PostgreSQL: use postgresql://, postgres:// "
            "or postgresql+asyncpg://"
        )
    return "postgresql://" + url.strip()[match.end() :]


def sqlalchemy_url(url: str) -> str:
    """The URL with SQLAlchemy's asyncpg driver named (`postgresql+asyncpg://...`)."""
    return "postgresql+asyncpg://" + plain_url(url).removeprefix("postgresql://")


DatabaseUrl = Annotated[str, AfterValidator(plain_url)]
"""A settings field type: any accepted form in, the plain `postgresql://` form out."""
