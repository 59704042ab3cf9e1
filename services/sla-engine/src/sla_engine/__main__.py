"""`sla-engine run` starts the engine; `sla-engine check-policy FILE` validates a policy."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

log = logging.getLogger("sla_engine")


async def _serve() -> int:
    import uvicorn

    from sla_edge.logs import configure_logging
    from sla_engine.adapters.kafka import IdempotenceRefused
    from sla_engine.bootstrap import bootstrap
    from sla_engine.config import EngineSettings
    from sla_engine.http import create_http_app

    settings = EngineSettings()
    configure_logging(settings.log_level)
    service = bootstrap(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: service.reload_policy(force=True))
    http = uvicorn.Server(
        uvicorn.Config(
            create_http_app(service),
            host="0.0.0.0",
            port=settings.engine_http_port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    http_task = asyncio.create_task(http.serve())
    log.info("sla-engine starting", extra={"policy_version": service.policy.version})
    code = 0
    try:
        await service.start()
    except IdempotenceRefused:
        # said once in the log; /readyz answers 503 with the reason until the pod is stopped
        await stop.wait()
        code = 1
    else:
        run_task = asyncio.create_task(service.run())
        stop_task = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({run_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if run_task in done:
            run_task.result()  # surface a crash
        run_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run_task
    await service.stop()
    http.should_exit = True
    await http_task
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sla-engine")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="consume ticket events and emit SLA events")
    check = sub.add_parser("check-policy", help="validate a policy file")
    check.add_argument("file")
    args = parser.parse_args(argv)
    if args.command == "check-policy":
        from sla_engine.check_policy import check_policy

        return check_policy(args.file)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_serve())


if __name__ == "__main__":
    sys.exit(main())
