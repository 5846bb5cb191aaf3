"""``odinpaint serve``: a local web page with a brush, and a REST API (FastAPI).

    odinpaint serve --model best.safetensors              # http://127.0.0.1:8000
    curl -F image=@photo.jpg -F mask=@mask.png -F style=smooth http://127.0.0.1:8000/api/v1/inpaint -o out.png

- ``GET /`` (with its style sheet and script modules, from ``ASSETS``): the page (open an
  image, paint the hole with zoom and pan, Inpaint, compare, download, continue editing, undo
  any of it);
- ``POST /api/v1/inpaint``: multipart ``image`` + ``mask`` (white = hole) and optionally
  ``style`` (``detailed``, the default, or ``smooth``), returns a PNG;
- ``GET /api/v1/health``: status, model and ``max_upload_mb``;
- ``GET /docs`` (Swagger UI) and ``GET /redoc``: the API pages, served with their scripts from
  the ``fastapi-offline`` package, so they work without a network (``/redoc`` under a content
  security policy that keeps every request on this server).

What it lets in, and what it answers otherwise:
- a request body over twice ``max_upload_mb`` (plus form overhead) or of unknown length gets
  413 or 411 before any of it is read; one upload over ``max_upload_mb`` gets 413;
- a part whose content type is neither ``image/*`` nor ``application/octet-stream``, or whose
  bytes do not decode as JPEG, PNG, WebP, BMP, TIFF or GIF within the pixel limit, gets 415;
- a mask missing, empty, of another size or covering the whole image gets 422, and so does
  any other ``UserError`` the inpainter raises;
- anything else that goes wrong is a bug in odinpaint: 500 with a ``detail`` that says so,
  and the full traceback in the log (logger ``odinpaint.inference.server``);
- requests carry image bytes only: no file names or paths are ever used.

At most ``workers`` requests decode and run at once and ``queue`` more wait; beyond that
503 with ``Retry-After``. The server binds to loopback unless told otherwise, and warns
when it is not (there is no authentication).
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
import warnings
from importlib.resources import files
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from PIL import Image

from odinpaint import __version__
from odinpaint.errors import UserError
from odinpaint.imageio import FAST_PNG, ImageError, binarize_mask, load_rgba
from odinpaint.inference.inpainter import Inpainter, check_context
from odinpaint.inference.styles import DEFAULT_STYLE, STYLE_HELP, STYLES
from odinpaint.models import arch_to_dict

WEB = files("odinpaint.inference") / "web"
# The page and the files it loads (its script modules import one another by name): served by
# name from this list only, which is the files of web/ with one of these types.
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8"}
ASSETS = {f.name: TYPES[Path(f.name).suffix] for f in WEB.iterdir() if Path(f.name).suffix in TYPES}
log = logging.getLogger("odinpaint.inference.server")


# The 200 answer of /api/v1/inpaint as OpenAPI states it: a PNG (with no response_class the
# schema would also claim application/json, FastAPI's default), and how to get one.
FILLED_PNG = {
    "description": "the filled image: a PNG the size of the upload, every pixel outside the hole unchanged",
    "content": {"image/png": {
        "schema": {"type": "string", "format": "binary", "contentMediaType": "image/png"},
        "example": "(PNG bytes) from: curl -F image=@photo.jpg -F mask=@mask.png -F style=detailed "
                   "http://127.0.0.1:8000/api/v1/inpaint -o filled.png",
    }},
}
OFFLINE_DOCS = "/static-offline-docs"  # where fastapi-offline serves Swagger UI's and ReDoc's files
# /redoc's page: ReDoc's bundle shows its logo from a CDN; this policy keeps every request on
# this server (the page renders the same without the logo).
REDOC_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; font-src 'self' data:")


class InternalError(Exception):
    """A bug met while serving a request (the original exception is its ``__cause__``)."""


def internal_error_detail(exc: BaseException) -> str:
    return (f"internal error in odinpaint ({type(exc).__name__}): a bug in odinpaint, not a problem with "
            "the upload; the server's log has the traceback")


def megabytes(mb: float) -> str:
    return f"{mb:g} MB"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MaskError(UserError):
    """A mask that does not fit its image (HTTP 422)."""


def decode_request(image: bytes, mask: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Uploaded bytes to (RGB uint8, hole bool). Raises ImageError when either does not
    decode (415) and MaskError when the mask does not fit (422), and nothing else."""
    rgb, _ = load_rgba(image, name="image")
    mask_rgb, mask_alpha = load_rgba(mask, name="mask")
    # A mask with transparency marks the hole with its opaque strokes (what a canvas gives).
    grey = mask_alpha if mask_alpha is not None and mask_alpha.min() < 255 else mask_rgb.max(axis=2)
    hole = binarize_mask(grey)
    if hole.shape != rgb.shape[:2]:
        raise MaskError(f"mask is {hole.shape[1]}x{hole.shape[0]}, image is {rgb.shape[1]}x{rgb.shape[0]}")
    check_context(hole, MaskError)
    return rgb, hole


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 and one of unknown length
    411, before any of it is read. Without it the form parser would spool a huge upload to
    disk before the endpoint could look at its size."""

    def __init__(self, app, limit: int, per_file_mb: float):
        self.app, self.limit, self.per_file_mb = app, limit, per_file_mb

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            length = dict(scope["headers"]).get(b"content-length")
            if length is None:
                return await JSONResponse({"detail": "a Content-Length header is required"}, 411)(scope, receive, send)
            if not length.isdigit() or int(length) > self.limit:
                # Over the body limit (two files plus the form), at least one file is over its own.
                detail = f"upload is larger than the {megabytes(self.per_file_mb)} upload limit (per file)"
                return await JSONResponse({"detail": detail}, 413)(scope, receive, send)
        await self.app(scope, receive, send)


def _check_type(upload: UploadFile, what: str) -> None:
    kind = (upload.content_type or "").split(";")[0].strip().lower()
    if kind and not (kind.startswith("image/") or kind == "application/octet-stream"):
        raise HTTPException(415, f"{what}: content type {kind} is not an image")


async def _read_limited(upload: UploadFile, limit: int, what: str, limit_mb: float) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{what} is larger than the {megabytes(limit_mb)} upload limit")
    if not data:
        raise HTTPException(422, f"{what} is empty")
    return data


def create_app(inpainter: Inpainter, max_upload_mb: float = 20, workers: int = 1, queue: int = 8) -> FastAPI:
    """The app around one loaded model. ``workers`` inferences at a time, ``queue`` waiting."""
    # Longer than the others: the routes and error handlers are nested here because they
    # close over this app's model, limits and queue; each of them is short.
    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from files in that package,
    # not from a CDN, so they render on a machine without a network.
    app = FastAPIOffline(title="odinpaint", version=__version__, redoc_url=None,
                         description="On-demand image inpainting: upload an image and a mask (white = hole), "
                                     "get it filled.")
    limit = int(max_upload_mb * 2**20)
    app.add_middleware(BodyLimit, limit=2 * limit + 2**20, per_file_mb=max_upload_mb)  # two files + the form
    running = asyncio.Semaphore(workers)
    state = {"pending": 0}

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError) -> JSONResponse:
        """The upload's fault, found past the checks above (e.g. by the inpainter): 422."""
        return JSONResponse({"detail": str(exc)}, 422)

    @app.exception_handler(InternalError)
    async def internal_error(request: Request, exc: InternalError) -> JSONResponse:
        """A bug: 500 with a detail that says so, and the whole traceback in the log."""
        cause = exc.__cause__ or exc
        log.error("internal error serving %s %s", request.method, request.url.path,
                  exc_info=(type(cause), cause, cause.__traceback__))
        return JSONResponse({"detail": internal_error_detail(cause)}, 500)

    @app.exception_handler(Exception)
    async def any_other_error(request: Request, exc: Exception) -> JSONResponse:
        """The same answer for a bug anywhere else (Starlette then re-raises it to the server)."""
        log.error("internal error serving %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": internal_error_detail(exc)}, 500)

    def asset(name: str) -> Response:
        return Response((WEB / name).read_bytes(), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    def route(name: str):
        return lambda: asset(name)

    app.add_api_route("/", route("index.html"), include_in_schema=False)
    for name in ASSETS:
        app.add_api_route(f"/{name}", route(name), include_in_schema=False)

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title="odinpaint - ReDoc",
                              redoc_js_url=f"{root}{OFFLINE_DOCS}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{OFFLINE_DOCS}/favicon.png", with_google_fonts=False)
        page.headers["Content-Security-Policy"] = REDOC_POLICY
        return page

    @app.get("/api/v1/health")
    def health() -> dict:
        return {"status": "ok", "version": __version__, "model": arch_to_dict(inpainter.net.arch),
                "max_upload_mb": max_upload_mb, "busy": state["pending"]}

    def work(img_bytes: bytes, mask_bytes: bytes, style: str) -> bytes:
        """Decode, fill, encode: in a worker thread, so the event loop keeps answering."""
        try:
            rgb, hole = decode_request(img_bytes, mask_bytes)
        except ImageError as e:
            raise HTTPException(415, str(e)) from None
        except MaskError as e:
            raise HTTPException(422, str(e)) from None
        buf = io.BytesIO()
        Image.fromarray(inpainter.fill_array(rgb, hole, style=style)).save(buf, format="PNG", **FAST_PNG)
        return buf.getvalue()

    @app.post("/api/v1/inpaint", response_class=Response, responses={200: FILLED_PNG,
                                             411: {"description": "no Content-Length"},
                                             413: {"description": "upload too large"},
                                             415: {"description": "not an image"},
                                             422: {"description": "mask missing, empty, of another size "
                                                                  "or covering the whole image"},
                                             500: {"description": "a bug in odinpaint (logged with its traceback)"},
                                             503: {"description": "busy: too many requests waiting"}})
    async def inpaint(image: UploadFile = File(..., description="the photo"),
                      mask: UploadFile = File(..., description="the hole: white (> 127) = hole, same size"),
                      style: Literal[STYLES] = Form(DEFAULT_STYLE, description=STYLE_HELP)):
        _check_type(image, "image")
        _check_type(mask, "mask")
        img_bytes = await _read_limited(image, limit, "image", max_upload_mb)
        mask_bytes = await _read_limited(mask, limit, "mask", max_upload_mb)
        # Decoding happens inside the bound too: it is where a big image costs memory.
        if state["pending"] >= workers + queue:
            raise HTTPException(503, "busy: too many requests waiting; try again shortly", headers={"Retry-After": "1"})
        state["pending"] += 1  # running or waiting for a worker
        try:
            async with running:
                png = await run_in_threadpool(work, img_bytes, mask_bytes, style)
        except (HTTPException, UserError):
            raise  # the request's fault: 4xx (a UserError from the inpainter is 422, handler above)
        except Exception as e:
            raise InternalError() from e  # a bug: 500 and the traceback in the log
        finally:
            state["pending"] -= 1
        return Response(png, media_type="image/png")

    return app


def serve(inpainter: Inpainter, host: str = "127.0.0.1", port: int = 8000, **kwargs) -> None:
    import uvicorn

    if not is_loopback(host):
        warnings.warn(f"serving on {host}: reachable from other machines; odinpaint has no authentication",
                      stacklevel=2)
    app = create_app(inpainter, **kwargs)
    # uvicorn's own bound on open connections (503 beyond it) backs up the app's queue
    # against connection floods; it is well above workers + queue so the app answers first.
    backlog = 4 * (kwargs.get("workers", 1) + kwargs.get("queue", 8)) + 32
    uvicorn.run(app, host=host, port=port, log_level="info", limit_concurrency=backlog)
