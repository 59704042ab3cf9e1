"""The report page: one self-contained static page (no CDN) over the same /v1 endpoints.

`/` and `/static/{file}` need no token: the page holds no data, and asks for a token that it
keeps in the browser's localStorage and sends as a bearer token with every /v1 request."""

from __future__ import annotations

import importlib.resources
import mimetypes
from functools import cache

from fastapi import APIRouter, HTTPException, Response

router = APIRouter(include_in_schema=False)

# The page loads nothing from anywhere else, and nothing may frame it.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


@cache
def static_files() -> dict[str, bytes]:
    """Every file shipped in report_api/static, by name (read once)."""
    folder = importlib.resources.files("report_api").joinpath("static")
    return {f.name: f.read_bytes() for f in folder.iterdir() if f.is_file()}


def _file(name: str) -> Response:
    body = static_files().get(name)
    if body is None:
        raise HTTPException(404, f"no static file {name!r}")
    suffix = name[name.rfind(".") :] if "." in name else ""
    media_type = MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "text/plain"
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    return Response(body, media_type=media_type, headers=HEADERS)


@router.get("/")
async def report_page() -> Response:
    return _file("index.html")


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    return _file(name)
