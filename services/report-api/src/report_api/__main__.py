"""`report-api serve | migrate | rebuild`.

- serve: the HTTP API, the projection consumer and the ticket event archive in one process;
  SIGTERM/SIGINT drain the requests in flight, stop the consumers after their batch and close the
  pool.
- migrate: upgrade the projection tables (and create the archive and the policy registry when
  missing) to the newest Alembic revision.
- rebuild: re-project the whole `sla.events` topic into a shadow schema and swap it in.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import ValidationError

from report_api.config import ApiSettings, ConfigError
from sla_edge.logs import configure_logging

log = logging.getLogger("report_api")


def _serve(settings: ApiSettings) -> int:
    import uvicorn

    from report_api.api.app import create_app

    try:
        app = create_app(settings)
    except ConfigError as exc:
        print(f"report-api: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=15,
    )
    log.info("report-api serving", extra={"port": settings.api_port})
    uvicorn.Server(config).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="report-api", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the HTTP API and run the projection consumer")
    sub.add_parser("migrate", help="upgrade the projection tables (Alembic)")
    sub.add_parser("rebuild", help="rebuild the projection from the SLA event topic")
    args = parser.parse_args(argv)
    try:
        settings = ApiSettings()
    except ValidationError as exc:
        print(f"report-api: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, propagate=("uvicorn", "uvicorn.error", "uvicorn.access"))
    # requests are logged by the app's middleware, with the route and duration
    logging.getLogger("uvicorn.access").disabled = True
    if args.command == "serve":
        return _serve(settings)
    if args.command == "migrate":
        from report_api.db import migrate

        asyncio.run(
            migrate(
                settings.database_url,
                schema=settings.database_schema,
                archive_schema=settings.archive_schema,
                engine_schema=settings.engine_schema,
            )
        )
        log.info("migrated", extra={"schema": settings.database_schema})
        return 0
    from report_api.rebuild import rebuild

    result = asyncio.run(rebuild(settings))
    print(f"rebuilt {result.schema}: {result.timers} timers in {result.batches} batches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
