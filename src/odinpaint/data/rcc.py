"""Read files out of a Qt resource bundle (``.rcc``), the form in which some Debian packages
(``gcompris-qt-data``) ship their photos.

    >>> from odinpaint.data.rcc import iter_rcc, rcc_files, read_rcc
    >>> files = rcc_files("/usr/share/gcompris-qt/rcc/erase.rcc")   # {path inside: (offset, flags)}
    >>> for member, read in iter_rcc("/usr/share/gcompris-qt/rcc/erase.rcc", (".webp",)): data = read()
    >>> data = read_rcc("/usr/share/gcompris-qt/rcc/erase.rcc", "/gcompris/src/activities/erase/resource/x.webp")

The layout (Qt's ``rcc`` tool, format versions 1-3): a 20-byte header (``qres``, version and
the offsets of the tree, data and names), a tree of fixed-size nodes (directories name their
children's range, files their data offset), names as length-prefixed UTF-16, and each file's
data as a length-prefixed blob, zlib-compressed when its flag says so. No maintained Python
library reads the format without Qt itself, and this needs only the standard library.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from odinpaint.errors import UserError

_DIRECTORY, _ZLIB, _ZSTD = 0x2, 0x1, 0x4


def _bad(path, why: str) -> UserError:
    return UserError(f"{path}: not a readable Qt resource bundle ({why})")


def _listing(buf: bytes, path) -> dict[str, tuple[int, int]]:
    """The tree of the bundle in ``buf``: each file's path inside -> (data offset, flags)."""
    if len(buf) < 20 or buf[:4] != b"qres":
        raise _bad(path, "no 'qres' header")
    version, tree, data, names = struct.unpack(">IIII", buf[4:20])
    if not 1 <= version <= 3:
        raise _bad(path, f"format version {version}")
    node = 14 if version == 1 else 22  # version 2 added an 8-byte modification time

    def name(offset: int) -> str:
        (length,) = struct.unpack_from(">H", buf, names + offset)
        start = names + offset + 6  # the length, then a 4-byte hash
        return buf[start : start + 2 * length].decode("utf-16-be")

    out, stack, seen = {}, [(0, "")], set()
    try:
        while stack:
            i, parent = stack.pop()
            if i in seen:  # a damaged tree could loop
                raise _bad(path, "its directory tree loops")
            seen.add(i)
            at = tree + i * node
            name_offset, flags = struct.unpack_from(">IH", buf, at)
            here = f"{parent}/{name(name_offset)}" if i else ""
            if flags & _DIRECTORY:
                count, first = struct.unpack_from(">II", buf, at + 6)
                stack.extend((c, here) for c in range(first, first + count))
            else:
                (offset,) = struct.unpack_from(">I", buf, at + 10)
                out[here] = (data + offset, flags)
    except (struct.error, UnicodeDecodeError) as e:
        raise _bad(path, f"cut short or damaged: {e}") from None
    return out


def _contents(buf: bytes, path, member: str, offset: int, flags: int) -> bytes:
    """One file's bytes, from its entry in ``_listing``."""
    try:
        (size,) = struct.unpack_from(">I", buf, offset)
    except struct.error:
        raise _bad(path, f"{member}'s data lies past the end") from None
    blob = buf[offset + 4 : offset + 4 + size]
    if len(blob) != size:
        raise _bad(path, f"{member}'s data is cut short")
    if flags & _ZSTD:
        raise _bad(path, f"{member} is zstd-compressed, which odinpaint does not read")
    if flags & _ZLIB:  # Qt's qCompress: the uncompressed size (4 bytes), then a zlib stream
        try:
            return zlib.decompress(blob[4:])
        except zlib.error as e:
            raise _bad(path, f"{member}: {e}") from None
    return blob


def rcc_files(path) -> dict[str, tuple[int, int]]:
    """Every file in the bundle at ``path``: its path inside -> (data offset, flags)."""
    return _listing(Path(path).read_bytes(), path)


def read_rcc(path, member: str) -> bytes:
    """The bytes of file ``member`` (a path inside the bundle, from ``rcc_files``)."""
    buf = Path(path).read_bytes()
    files = _listing(buf, path)
    if member not in files:
        raise _bad(path, f"it holds no file {member}")
    return _contents(buf, path, member, *files[member])


def iter_rcc(path, suffixes: tuple[str, ...]) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(path inside, its reader) for every file whose name ends in one of ``suffixes``, in
    name order, from one read of the bundle. A reader raises ``UserError`` for that file
    alone when its data is damaged."""
    buf = Path(path).read_bytes()
    files = _listing(buf, path)
    for member in sorted(files):
        if member.lower().endswith(suffixes):
            yield member, partial(_contents, buf, path, member, *files[member])
