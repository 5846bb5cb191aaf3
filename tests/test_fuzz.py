"""Fuzzing the image and mask decoders (hypothesis): arbitrary bytes, and real files of every
format with bits flipped, bytes cut, inserted or overwritten, header sizes changed. Each
decode either gives arrays of the promised shape or raises ImageError (MaskError for a mask
that does not fit, on the server): never any other exception."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.badfiles import broken_files, encode, odd_files
from helpers.photos import smooth_image
from odinpaint import imageio
from odinpaint.imageio import ImageError, load_mask, load_rgb, load_rgba
from odinpaint.inference.server import MaskError, decode_request

pytestmark = pytest.mark.fuzz

RGB = smooth_image(np.random.default_rng(2), 12, 16)
SEEDS = [encode(RGB, fmt) for fmt in ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")]
SEEDS += list(odd_files(RGB).values()) + [data for data, _ in broken_files(RGB).values() if data]
SEEDS += [encode(RGB, "PNG", optimize=True), encode(RGB, "TIFF", compression="tiff_lzw"),
          encode(np.dstack([RGB, RGB[..., :1]]), "WEBP", lossless=True)]
# Bounded work per example: a mutated header may claim any size; the limit is what it meets.
FUZZ_MAX_PIXELS = 1_000_000
FUZZ = settings(max_examples=1500, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def mutated(draw) -> bytes:
    """A seed file with a few random edits."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "overwrite", "header"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[at : at + len(chunk)] = chunk
        else:  # the header, where sizes, modes and offsets live
            at = draw(st.integers(0, min(63, max(0, len(data) - 1))))
            if data:
                data[at] = draw(st.integers(0, 255))
    return bytes(data)


any_bytes = st.one_of(st.binary(max_size=512), mutated())


def check_decoders(data: bytes) -> None:
    for load in (load_rgb, lambda d, name: load_rgba(d, name)[0]):
        try:
            rgb = load(data, name="fuzz")
        except ImageError as e:
            assert e.path == "fuzz" and "\n" not in str(e)
        else:
            assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    try:
        hole = load_mask(data, name="fuzz")
    except ImageError:
        pass
    else:
        assert hole.dtype == bool and hole.ndim == 2


@FUZZ
@given(data=any_bytes)
def test_image_and_mask_decoders_raise_only_image_errors(data):
    with mock.patch.object(imageio, "MAX_PIXELS", FUZZ_MAX_PIXELS):
        check_decoders(data)


@FUZZ
@given(image=any_bytes, mask=st.one_of(any_bytes, st.sampled_from(SEEDS)))
def test_server_decoding_raises_only_image_and_mask_errors(image, mask):
    with mock.patch.object(imageio, "MAX_PIXELS", FUZZ_MAX_PIXELS):
        try:
            rgb, hole = decode_request(image, mask)
        except (ImageError, MaskError):
            return
    assert rgb.shape[:2] == hole.shape and hole.dtype == bool and not hole.all()


def test_the_fuzzer_reaches_the_decoders():
    """The mutations are not all trivially rejected: some still decode, some fail deep inside."""
    import random

    outcomes = {"decoded": 0, "corrupt": 0, "not an image": 0, "other": 0}
    rng = random.Random(0)
    for _ in range(300):
        data = bytearray(rng.choice(SEEDS))
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        try:
            load_rgb(bytes(data), name="x")
            outcomes["decoded"] += 1
        except ImageError as e:
            key = "corrupt" if "corrupt" in e.reason else "not an image" if "not an image" in e.reason else "other"
            outcomes[key] += 1
    print(f"\none-bit flips of the seed files: {outcomes}")
    assert outcomes["decoded"] > 30 and outcomes["corrupt"] > 10
