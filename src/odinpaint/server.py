"""``odinpaint serve``: a local web page with a brush, and a REST API (FastAPI).

    odinpaint serve --model best.safetensors              # http://127.0.0.1:8000
    curl -F image=@photo.jpg -F mask=@mask.png http://127.0.0.1:8000/api/v1/inpaint -o out.png

- ``GET /``: the page (upload, paint the hole, Inpaint, compare, download);
- ``POST /api/v1/inpaint``: multipart ``image`` + ``mask`` (white = hole), returns a PNG;
- ``GET /api/v1/health``: status and model; ``GET /docs``: the OpenAPI page.

Uploads over ``max_upload_mb`` get 413, non-images 415, a mask that does not fit 422. At
most ``workers`` requests run at once and ``queue`` more wait; beyond that 503. The server
binds to loopback unless told otherwise, and warns when it is not. It accepts no file paths.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import warnings
from importlib.resources import files

import numpy as np
from fastapi import FastAPI, File, HTTPException, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from PIL import Image

from odinpaint import __version__
from odinpaint.imageio import ImageError, binarize_mask, load_rgba
from odinpaint.inpainter import Inpainter
from odinpaint.models import arch_to_dict

PAGE = files("odinpaint") / "web" / "index.html"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _read_limited(upload: UploadFile, limit: int, what: str) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{what} is larger than the {limit // 2**20} MB upload limit")
    if not data:
        raise HTTPException(422, f"{what} is empty")
    return data


def create_app(inpainter: Inpainter, max_upload_mb: float = 20, workers: int = 1, queue: int = 8) -> FastAPI:
    """The app around one loaded model. ``workers`` inferences at a time, ``queue`` waiting."""
    app = FastAPI(title="odinpaint", version=__version__,
                  description="On-demand image inpainting: upload an image and a mask (white = hole), get it filled.")
    limit = int(max_upload_mb * 2**20)
    running = asyncio.Semaphore(workers)
    state = {"pending": 0}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return PAGE.read_text()

    @app.get("/api/v1/health")
    def health() -> dict:
        return {"status": "ok", "version": __version__, "model": arch_to_dict(inpainter.net.arch),
                "max_upload_mb": max_upload_mb}

    @app.post("/api/v1/inpaint", responses={200: {"content": {"image/png": {}}, "description": "the filled image"},
                                             413: {"description": "upload too large"},
                                             415: {"description": "not an image"},
                                             422: {"description": "mask missing, empty or of another size"},
                                             503: {"description": "busy: too many requests waiting"}})
    async def inpaint(image: UploadFile = File(..., description="the photo"),
                      mask: UploadFile = File(..., description="the hole: white (> 127) = hole, same size")):
        img_bytes = await _read_limited(image, limit, "image")
        mask_bytes = await _read_limited(mask, limit, "mask")
        try:
            rgb, _ = load_rgba(img_bytes, name="image")
            mask_rgb, mask_alpha = load_rgba(mask_bytes, name="mask")
        except ImageError as e:
            raise HTTPException(415, str(e)) from None
        # A mask with transparency marks the hole with its opaque strokes (what a canvas gives).
        grey = mask_alpha if mask_alpha is not None and mask_alpha.min() < 255 else mask_rgb.max(axis=2)
        hole = binarize_mask(grey)
        if hole.shape != rgb.shape[:2]:
            raise HTTPException(422, f"mask is {hole.shape[1]}x{hole.shape[0]}, image is {rgb.shape[1]}x{rgb.shape[0]}")
        if hole.all():
            raise HTTPException(422, "the mask covers the whole image: there is nothing to fill from")
        if state["pending"] >= workers + queue:
            raise HTTPException(503, "busy: too many requests waiting; try again shortly", headers={"Retry-After": "1"})
        state["pending"] += 1  # running or waiting for a worker
        try:
            async with running:
                out = await run_in_threadpool(inpainter.fill_array, rgb, hole)
        finally:
            state["pending"] -= 1
        buf = io.BytesIO()
        Image.fromarray(np.asarray(out)).save(buf, format="PNG")
        return Response(buf.getvalue(), media_type="image/png")

    return app


def serve(inpainter: Inpainter, host: str = "127.0.0.1", port: int = 8000, **kwargs) -> None:
    import uvicorn

    if not is_loopback(host):
        warnings.warn(f"serving on {host}: reachable from other machines; odinpaint has no authentication",
                      stacklevel=2)
    uvicorn.run(create_app(inpainter, **kwargs), host=host, port=port, log_level="info")
