"""Helpers the tests share (conftest.py holds only fixtures and hooks):

    helpers.photos     synthetic photo-like images, a folder of them, a tiny prepared data set
    helpers.training   a training step that reports NaN on a chosen call
    helpers.badfiles   broken and unusual image files, as users' folders hold them
    helpers.browser    Debian's Chromium driven by Playwright, or a skip (a failure under `make test`)
    helpers.live       a real uvicorn server in a thread

Tests import them as ``from helpers.photos import smooth_image``: pytest puts tests/ on
sys.path (tests/ has no __init__.py, and conftest.py makes sure of it)."""
