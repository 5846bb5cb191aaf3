"""Qt resource bundles and the ``gcompris`` source built on them."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from helpers.photos import smooth_image
from odinpaint.data.prepare import PrepareConfig, prepare
from odinpaint.data.rcc import rcc_files, read_rcc
from odinpaint.data.sources import GCOMPRIS_RCC, load_item, resolve_source
from odinpaint.errors import UserError
from odinpaint.imageio import ImageError


def write_rcc(path, files: dict[str, bytes], compress=(), version=2):
    """A bundle laid out as Qt's rcc tool lays it out: tree nodes breadth-first, each
    directory's children contiguous; the files named in ``compress`` zlib-compressed."""
    tree = {}
    for full, blob in files.items():
        *dirs, leaf = full.strip("/").split("/")
        node = tree
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = (full, blob)
    order = [("", tree)]  # breadth-first: a directory's children get consecutive indices
    records, names, data = [], bytearray(), bytearray()
    for name, obj in order:  # grows while it runs
        name_at = len(names)
        names.extend(struct.pack(">HI", len(name), 0) + name.encode("utf-16-be"))
        if isinstance(obj, dict):
            records.append(struct.pack(">IHII", name_at, 0x2, len(obj), len(order)))
            order.extend(obj.items())
        else:
            full, blob = obj
            flags = 0
            if full in compress:  # Qt's qCompress: the plain size, then the zlib stream
                blob, flags = struct.pack(">I", len(blob)) + zlib.compress(blob), 0x1
            records.append(struct.pack(">IHHHI", name_at, flags, 0, 0, len(data)))
            data.extend(struct.pack(">I", len(blob)) + blob)
    if version >= 2:
        records = [r + bytes(8) for r in records]  # the modification time
    tree_at = 20
    data_at = tree_at + sum(map(len, records))
    names_at = data_at + len(data)
    header = b"qres" + struct.pack(">IIII", version, tree_at, data_at, names_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + b"".join(records) + bytes(data) + bytes(names))
    return path


def png(rng, h, w) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(smooth_image(rng, h, w)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("version", [1, 2])
def test_rcc_files_and_their_bytes_come_back(tmp_path, version):
    files = {"/a/b/photo.webp": b"RIFF plain bytes", "/a/packed.png": b"x" * 1000, "/top.txt": b"t"}
    path = write_rcc(tmp_path / "r.rcc", files, compress={"/a/packed.png"}, version=version)
    listing = rcc_files(path)
    assert set(listing) == set(files)
    assert listing["/a/packed.png"][1] & 0x1 and not listing["/a/b/photo.webp"][1] & 0x1
    for member, blob in files.items():
        assert read_rcc(path, member) == blob


def test_damaged_bundles_name_the_file_and_the_reason(tmp_path):
    path = write_rcc(tmp_path / "r.rcc", {"/a/photo.png": b"y" * 100})
    cut = tmp_path / "cut.rcc"
    cut.write_bytes(path.read_bytes()[:30])
    with pytest.raises(UserError, match="cut.rcc.*cut short or damaged"):
        rcc_files(cut)
    other = tmp_path / "other.rcc"
    other.write_bytes(b"PK\x03\x04" + bytes(40))
    with pytest.raises(UserError, match="other.rcc.*no 'qres' header"):
        rcc_files(other)
    with pytest.raises(UserError, match="holds no file /a/missing.png"):
        read_rcc(path, "/a/missing.png")


def test_gcompris_source_reads_its_photos_and_leaves_out_icons(tmp_path, rng):
    root = tmp_path / "root"
    photos = {f"/gcompris/src/activities/erase/resource/photo{i}.png": png(rng, 600, 640) for i in range(3)}
    write_rcc(root / GCOMPRIS_RCC / "erase.rcc", {
        **photos,
        "/gcompris/src/activities/erase/resource/sprite.png": png(rng, 90, 120),  # too small: an icon
        "/gcompris/src/activities/erase/resource/erase.qml": b"Item {}",
    }, compress={"/gcompris/src/activities/erase/resource/photo0.png"})
    write_rcc(root / GCOMPRIS_RCC / "lang.rcc", {"/gcompris/lang/word.png": png(rng, 600, 600)})  # not listed
    src = resolve_source("gcompris", photos_root=root)
    assert [i.name for i in src.items] == [f"{GCOMPRIS_RCC}/erase.rcc:{m}" for m in sorted(photos)]
    assert {i.split for i in src.items} == {"train", "val", "test"} and src.kind == "gcompris"
    for item in src.items:
        member = item.name.split(":")[1]
        assert np.array_equal(load_item(item), np.asarray(Image.open(io.BytesIO(photos[member])).convert("RGB")))
    m = prepare(src, tmp_path / "ds", PrepareConfig(size=32, workers=1), progress=False)
    assert sum(m["splits"][s]["count"] for s in ("train", "val", "test")) == 3


def test_eval_photos_reads_a_gcompris_data_set_s_test_photos_from_the_bundles(tmp_path, rng, monkeypatch):
    import functools

    from odinpaint.data import sources
    from odinpaint.study.photo_eval import PhotoEvalConfig, load_photos

    root = tmp_path / "root"
    photos = {f"/gcompris/src/activities/erase/resource/photo{i}.png": png(rng, 600, 640) for i in range(3)}
    write_rcc(root / GCOMPRIS_RCC / "erase.rcc", photos)
    m = prepare(resolve_source("gcompris", photos_root=root), tmp_path / "ds", PrepareConfig(size=32, workers=1),
                progress=False)
    monkeypatch.setattr(sources, "gcompris_photos", functools.partial(sources.gcompris_photos, root=root))
    (test,) = m["splits"]["test"]["files"]
    ((name, rgb),) = load_photos(PhotoEvalConfig(data=str(tmp_path / "ds")))
    member = test.split(":")[1]
    assert name == "erase/" + member.rsplit("/", 1)[1]
    assert np.array_equal(rgb, np.asarray(Image.open(io.BytesIO(photos[member])).convert("RGB")))
    (root / GCOMPRIS_RCC / "erase.rcc").unlink()
    with pytest.raises(UserError, match="found 0 of its 1 test photos in gcompris-qt-data"):
        load_photos(PhotoEvalConfig(data=str(tmp_path / "ds")))


def test_a_damaged_gcompris_photo_is_skipped_and_named(tmp_path, rng):
    root = tmp_path / "root"
    write_rcc(root / GCOMPRIS_RCC / "erase.rcc", {f"/r/photo{i}.png": png(rng, 600, 640) for i in range(3)})
    src = resolve_source("gcompris", photos_root=root)
    (root / GCOMPRIS_RCC / "erase.rcc").write_bytes(b"qres" + bytes(10))  # damaged after the listing
    with pytest.raises(ImageError, match="photo0.png.*erase.rcc"):
        load_item(src.items[0])


def test_gcompris_source_without_the_package_says_how_to_install(tmp_path):
    with pytest.raises(UserError, match="apt-get install gcompris-qt-data"):
        resolve_source("gcompris", photos_root=tmp_path)
