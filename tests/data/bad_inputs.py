"""The project's own corpus of bad (and awkward but good) user inputs, generated on disk.

Each Kind is one way a table row, a shard or a table can be wrong, with the exact reason the
build must give it (None: it must be admitted). Nothing here was written by the pipeline's
authors for its own convenience: tables are written as raw bytes, so a cell can hold what
spreadsheets and scripts of other teams really produce (invalid UTF-8, NUL, CRLF, ragged rows).
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from userdata import huge_png_header, picture, write

from components.checks.limits import SampleLimits

# small enough that an oversized file is cheap to write; everything else as in params.yaml
LIMITS = SampleLimits(max_image_bytes=300_000)
CANARY = b"CANARY-7f3a91 these bytes must never leave their folder"


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _noise(seed: int, size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    return rgb if mode == "RGB" else rgb.convert(mode)


def _flat(size: tuple[int, int]) -> Callable[[int], bytes]:
    """A one-colour PNG: a few kilobytes whatever its size."""
    return lambda seed: _encode(Image.new("RGB", size, (seed % 256, 80, 160)), "PNG")


def _bad_crc(seed: int) -> bytes:
    data = picture(seed)
    return _flip(data, len(data) - 14)  # IDAT's CRC (IEND takes the last 12 bytes)


def _flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0xFF
    return bytes(out)


def _rotated_jpeg(seed: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    return _encode(_noise(seed, (40, 24)), "JPEG", exif=exif)


def _animated_gif(seed: int) -> bytes:
    frames = [_noise(seed + i, (24, 24)).convert("P") for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return buffer.getvalue()


def _palette_with_transparency(seed: int) -> bytes:
    image = _noise(seed, (24, 24)).convert("P")
    return _encode(image, "PNG", transparency=0)


def _sixteen_bit(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return _encode(Image.fromarray(rng.integers(0, 65536, (24, 24), dtype=np.uint16)), "PNG")


# ------------------------------------------------------------------------------ table rows


@dataclass(frozen=True)
class Row:
    image: bytes  # the image cell, raw
    caption: bytes = b"a picture of something"
    captions: bytes = b""  # extra captions ('|'-separated)
    license: bytes = b""
    raw_line: bytes | None = None  # the whole CSV line as written (a malformed row)


@dataclass(frozen=True)
class Kind:
    name: str
    reason: str | None  # None: admitted
    make: Callable[[Path, Path, int], Row]  # (table folder, outside folder, seed) -> its row


def _file(name: str, data: bytes) -> Callable[[Path, Path, int], Row]:
    def make(folder: Path, outside: Path, seed: int) -> Row:
        write(folder / name, data)
        return Row(name.encode())

    return make


def _image(name: str, build: Callable[[int], bytes], caption: bytes = b"") -> Callable:
    def make(folder: Path, outside: Path, seed: int) -> Row:
        write(folder / name, build(seed))
        return Row(name.encode(), caption or f"a picture number {seed}".encode())

    return make


def _pil(name: str, size: tuple[int, int], fmt: str, mode: str = "RGB", **options) -> Callable:
    """A noise image of `size` in `fmt`, written as `name`."""
    return _image(name, lambda seed: _encode(_noise(seed, size, mode), fmt, **options))


def _caption(caption: bytes, captions: bytes = b"") -> Callable[[Path, Path, int], Row]:
    def make(folder: Path, outside: Path, seed: int) -> Row:
        name = f"captioned-{seed}.png"
        write(folder / name, picture(seed))
        return Row(name.encode(), caption, captions)

    return make


def _license(license_: bytes) -> Callable[[Path, Path, int], Row]:
    def make(folder: Path, outside: Path, seed: int) -> Row:
        name = f"licensed-{seed}.png"
        write(folder / name, picture(seed))
        return Row(name.encode(), license=license_)

    return make


def _cell(value: bytes) -> Callable[[Path, Path, int], Row]:
    return lambda folder, outside, seed: Row(value)


def _outside_absolute(folder: Path, outside: Path, seed: int) -> Row:
    return Row(str(outside / "canary.txt").encode())


def _climbs_out(folder: Path, outside: Path, seed: int) -> Row:
    return Row(os.path.relpath(outside / "canary.txt", folder).encode())


def _symlink_out(folder: Path, outside: Path, seed: int) -> Row:
    (folder / "innocent.png").symlink_to(outside / "canary.png")
    return Row(b"innocent.png")


def _through_linked_folder(folder: Path, outside: Path, seed: int) -> Row:
    (folder / "photos").symlink_to(outside, target_is_directory=True)
    return Row(b"photos/canary.png")


def _link_inside(folder: Path, outside: Path, seed: int) -> Row:
    write(folder / "real" / f"r{seed}.png", picture(seed))
    (folder / f"alias-{seed}.png").symlink_to(folder / "real" / f"r{seed}.png")
    return Row(f"alias-{seed}.png".encode())


def _dangling(folder: Path, outside: Path, seed: int) -> Row:
    (folder / "dangling.png").symlink_to(folder / "never-there.png")
    return Row(b"dangling.png")


def _directory(folder: Path, outside: Path, seed: int) -> Row:
    (folder / "a-folder.png").mkdir()
    return Row(b"a-folder.png")


def _fifo(folder: Path, outside: Path, seed: int) -> Row:
    os.mkfifo(folder / "pipe.png")  # opening it for reading would block a careless reader
    return Row(b"pipe.png")


def _loop(folder: Path, outside: Path, seed: int) -> Row:
    (folder / "loop-a.png").symlink_to(folder / "loop-b.png")
    (folder / "loop-b.png").symlink_to(folder / "loop-a.png")
    return Row(b"loop-a.png")


def _dot_segments(folder: Path, outside: Path, seed: int) -> Row:
    write(folder / "imgs" / f"d{seed}.png", picture(seed))
    return Row(f"imgs/../imgs/./d{seed}.png".encode())


def _spaces_and_unicode(folder: Path, outside: Path, seed: int) -> Row:
    name = f"my photos/été {seed} 🐶.png"
    write(folder / name, picture(seed))
    return Row(name.encode())


def _non_utf8_filename(folder: Path, outside: Path, seed: int) -> Row:
    name = b"latin1-caf\xe9.png"  # a legal Linux file name that is not UTF-8
    fd = os.open(os.fsencode(folder) + b"/" + name, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, picture(seed))
    os.close(fd)
    return Row(name)


def _duplicate(folder: Path, outside: Path, seed: int) -> Row:
    write(folder / "second-copy.png", picture(999))  # the bytes of PLAIN, the first row
    return Row(b"second-copy.png")


def _ragged(folder: Path, outside: Path, seed: int) -> Row:
    write(folder / f"ragged-{seed}.png", picture(seed))
    return Row(b"", raw_line=f"ragged-{seed}.png,a caption,,,one field too many\n".encode())


# the first row of every table: a plain good picture, whose bytes the duplicate kind repeats
PLAIN = Kind("a plain PNG", None, _file("plain.png", picture(999)))

TABLE_KINDS: tuple[Kind, ...] = (
    # where the reference points
    Kind("an absolute path outside the folder", "outside_root", _outside_absolute),
    Kind("a '..' path climbing out", "outside_root", _climbs_out),
    Kind("a symlink to a file outside", "outside_root", _symlink_out),
    Kind("a path through a symlinked folder outside", "outside_root", _through_linked_folder),
    Kind("an s3:// URL with no S3 root", "outside_root", _cell(b"s3://bucket/secret.png")),
    Kind("a symlink to a file inside", None, _link_inside),
    Kind("'.' and '..' that stay inside", None, _dot_segments),
    Kind("spaces and non-ASCII in the path", None, _spaces_and_unicode),
    Kind("a file name that is not UTF-8", None, _non_utf8_filename),
    Kind("a dangling symlink", "missing_file", _dangling),
    Kind("a missing file", "missing_file", _cell(b"not-there.png")),
    Kind("a directory", "not_a_file", _directory),
    Kind("a named pipe", "not_a_file", _fifo),
    Kind("a symlink loop", "not_a_file", _loop),
    Kind("an empty image field", "empty_image_field", _cell(b"")),
    Kind("a blank image field", "empty_image_field", _cell(b"   ")),
    Kind("an http URL to this machine", "private_address", _cell(b"http://127.0.0.1:9/cat.png")),
    Kind("an https URL to a private network", "private_address", _cell(b"https://10.0.0.7/a.png")),
    Kind("the cloud's metadata service", "private_address", _cell(b"http://169.254.169.254/")),
    Kind("an ftp URL", "unsupported_url", _cell(b"ftp://example.com/cat.png")),
    Kind("a file:// URL", "unsupported_url", _cell(b"file:///etc/passwd")),
    Kind("a NUL byte in the path", "invalid_reference", _cell(b"cat\x00.png")),
    Kind("a malformed row", "malformed_row", _ragged),
    # the file's bytes
    Kind("a zero-byte file", "zero_bytes", _file("zero.png", b"")),
    Kind("a file above the byte cap", "file_too_large", _file("huge.png", b"\x89PNG" * 80_000)),
    Kind("a text file", "not_an_image", _file("notes.png", CANARY + b" shopping list")),
    Kind("a TIFF", "not_an_image", _pil("scan.tif", (24, 24), "TIFF")),
    Kind("a BMP", "not_an_image", _pil("paint.bmp", (24, 24), "BMP")),
    Kind("an SVG", "not_an_image", _file("vector.svg", b'<svg width="9" height="9"/>')),
    Kind("a PDF", "not_an_image", _file("doc.png", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")),
    Kind("a truncated PNG", "truncated", _image("cut.png", lambda s: picture(s)[:60])),
    Kind("a truncated JPEG", "truncated", _image("cut.jpg", lambda s: picture(s, "JPEG")[:300])),
    Kind("a PNG with a broken CRC", "corrupt_image", _image("crc.png", _bad_crc)),
    Kind("a decompression bomb", "decompression_bomb", _file("bomb.png", huge_png_header())),
    Kind("a 1x1 image", "image_too_small", _pil("dot.png", (1, 1), "PNG")),
    Kind("a 4x4 image", "image_too_small", _pil("tiny.png", (4, 4), "PNG")),
    Kind("a 5000x200 image", "image_too_large", _image("wide.png", _flat((5000, 200)))),
    Kind("a 1000x100 image", "extreme_aspect_ratio", _image("banner.png", _flat((1000, 100)))),
    Kind("the same bytes twice", "duplicate_image", _duplicate),
    # awkward but good images
    Kind("a CMYK JPEG", None, _pil("cmyk.jpg", (24, 24), "JPEG", "CMYK")),
    Kind("a 16-bit PNG", None, _image("deep.png", _sixteen_bit)),
    Kind("a palette PNG with transparency", None, _image("pal.png", _palette_with_transparency)),
    Kind("a grey PNG with alpha", None, _pil("la.png", (24, 24), "PNG", "LA")),
    Kind("a WEBP", None, _pil("pic.webp", (24, 24), "WEBP", lossless=True)),
    Kind("an animated GIF", None, _image("anim.gif", _animated_gif)),
    Kind("a JPEG rotated by EXIF", None, _image("phone.jpg", _rotated_jpeg)),
    # captions
    Kind("an empty caption", "empty_caption", _caption(b"")),
    Kind("a blank caption", "whitespace_caption", _caption(b"   ")),
    Kind("a caption that is not UTF-8", "non_utf8_caption", _caption(b"caf\xe9 au lait")),
    Kind("a bad extra caption", "non_utf8_caption", _caption(b"fine", b"ok|bad \xff")),
    Kind("a NUL in the caption", "control_characters", _caption(b"a cat\x00 on a mat")),
    Kind("an escape sequence", "control_characters", _caption(b"\x1b[31mred\x1b[0m")),
    Kind("a DEL in the caption", "control_characters", _caption(b"a dog\x7f")),
    Kind("a C1 control in the caption", "control_characters", _caption("a bird\x85".encode())),
    Kind("a lone CR in the caption", "control_characters", _caption(b"line one\rline two")),
    Kind("a caption above max_caption_chars", "caption_too_long", _caption(b"word " * 61)),
    Kind("a caption with tab and CRLF", None, _caption(b"first line\tand\r\nsecond line")),
    Kind("a caption in several scripts", None, _caption("東京 🐶 مرحبا naïve".encode())),
    Kind("special tokens as caption text", None, _caption(b"<|endoftext|> <end_of_text>")),
    # metadata
    Kind("a license that is not UTF-8", "bad_metadata", _license(b"CC-BY-4.0 \xa9 me")),
    Kind("a control character in the license", "bad_metadata", _license(b"MIT\x1b[0m")),
    Kind("a license in words", None, _license("public domain, “as is”".encode())),
)  # fmt: skip


def _quote(value: bytes) -> bytes:
    return b'"' + value.replace(b'"', b'""') + b'"'


def write_table(folder: Path, outside: Path, kinds: tuple[Kind, ...], first_seed: int = 100):
    """A CSV with PLAIN then one row per kind (in that order), written as raw bytes; returns its
    path and the expected reason per row number."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [b"image,caption,captions,license\n"]
    expected: dict[int, str | None] = {}
    for number, kind in enumerate((PLAIN, *kinds), start=1):
        row = kind.make(folder, outside, first_seed + number)
        cells = (row.image, row.caption, row.captions, row.license)
        lines.append(row.raw_line or b",".join(map(_quote, cells)) + b"\r\n")
        expected[number] = kind.reason
    table = folder / "table.csv"
    table.write_bytes(b"".join(lines))
    return table, expected


def write_outside(outside: Path) -> None:
    """What no build may read: a text canary and a picture canary, beside the table's folder."""
    write(outside / "canary.txt", CANARY)
    write(outside / "canary.png", picture(777))


# ---------------------------------------------------------------------------------- shards


def _member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _tar(members: list[tuple[str, bytes]], link: tuple[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members:
            _member(archive, name, data)
        if link is not None:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            archive.addfile(info)
    return buffer.getvalue()


def _good(key: str, seed: int, caption: bytes = b"a shard picture") -> list[tuple[str, bytes]]:
    return [(f"{key}.jpg", picture(seed, "JPEG")), (f"{key}.txt", caption + b" %d" % seed)]


@dataclass(frozen=True)
class ShardKind:
    name: str
    reason: str | None
    reference: str  # "<file>" for the whole shard, "<file>#<key>" for one sample
    make: Callable[[Path, Path], None]  # (shard folder, outside folder)


def _shard(file: str, members: list[tuple[str, bytes]], link=None) -> Callable[[Path, Path], None]:
    return lambda folder, outside: write(folder / file, _tar(members, link))


def _truncated(folder: Path, outside: Path) -> None:
    """Cut inside k1's image: k0 is whole, the upload broke off after it."""
    whole = _tar(_good("k0", 301) + _good("k1", 302) + _good("k2", 303))
    with tarfile.open(fileobj=io.BytesIO(whole)) as archive:
        cut = archive.getmember("k1.jpg").offset_data + 100
    write(folder / "cut.tar", whole[:cut])


def _shard_link_out(folder: Path, outside: Path) -> None:
    write(outside / "theirs.tar", _tar(_good("s0", 310, b"a stolen shard")))
    (folder / "linked.tar").symlink_to(outside / "theirs.tar")


def _shard_fifo(folder: Path, outside: Path) -> None:
    os.mkfifo(folder / "pipe.tar")


SHARD_KINDS: tuple[ShardKind, ...] = (
    ShardKind("a good sample", None, "good.tar#k0", _shard("good.tar", _good("k0", 320))),
    ShardKind("a sample without an image", "missing_member", "noimage.tar#k0",
              _shard("noimage.tar", [("k0.txt", b"a caption alone"), ("k0.json", b"{}")])),
    ShardKind("a link member", "irregular_member", "link.tar#k0",
              _shard("link.tar", [("k0.txt", b"linked")], link=("k0.jpg", "/etc/passwd"))),
    ShardKind("the samples before a shard's damage", None, "cut.tar#k0", _truncated),
    ShardKind("a shard cut off in the middle", "unreadable_shard", "cut.tar", _truncated),
    ShardKind("a .tar that is not a tar", "unreadable_shard", "junk.tar",
              lambda f, o: write(f / "junk.tar", b"this is not a tar archive" * 40)),
    ShardKind("a shard symlinked from outside", "outside_root", "linked.tar", _shard_link_out),
    ShardKind("a named pipe called .tar", "not_a_file", "pipe.tar", _shard_fifo),
    ShardKind("a .txt caption that is not UTF-8", "non_utf8_caption", "latin1.tar#k0",
              _shard("latin1.tar", [("k0.jpg", picture(330, "JPEG")), ("k0.txt", b"caf\xe9")])),
    ShardKind("a member named with '../'", None, "climb.tar#k0",
              _shard("climb.tar", [("../../k0.jpg", picture(331, "JPEG")), ("../k0.txt", b"up")])),
    ShardKind("a member above the byte cap", "file_too_large", "big.tar#k0",
              _shard("big.tar", [("k0.jpg", b"\xff\xd8\xff" + bytes(400_000)), ("k0.txt", b"b")])),
    ShardKind("a sample with no caption anywhere", "empty_caption", "mute.tar#k0",
              _shard("mute.tar", [("k0.jpg", picture(332, "JPEG")), ("k0.json", b'{"k": 0}')])),
)  # fmt: skip


def write_shards(folder: Path, outside: Path) -> dict[str, str | None]:
    """Every shard kind in `folder`; returns the expected reason per reference (file names
    relative to `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    for kind in SHARD_KINDS:
        kind.make(folder, outside)
    return {kind.reference: kind.reason for kind in SHARD_KINDS}


# ------------------------------------------------------------------------- whole tables


@dataclass(frozen=True)
class TableKind:
    name: str
    reason: str
    file: str
    columns: dict[str, object]  # pyarrow-typed columns; the rows' reasons are all `reason`


def parquet_kinds(folder: Path) -> list[TableKind]:
    for i in range(2):
        write(folder / f"p{i}.png", picture(400 + i))
    images = ["p0.png", "p1.png"]
    return [
        TableKind("a caption column of integers", "caption_not_text", "ints.parquet",
                  {"image": images, "caption": [0, 1]}),
        TableKind("an image column of bytes", "image_field_not_text", "bytes.parquet",
                  {"image": [picture(402), picture(403)], "caption": ["a", "b"]}),
        TableKind("a null caption", "empty_caption", "nulls.parquet",
                  {"image": images, "caption": [None, None]}),
    ]  # fmt: skip


def write_parquet(folder: Path, kind: TableKind) -> Path:
    import pandas as pd

    path = folder / kind.file
    pd.DataFrame(kind.columns).to_parquet(path)
    return path
