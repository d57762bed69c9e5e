"""Text files users hand over (configs, suites, policies, prompt lists): read as UTF-8, or one clear line.

UTF-8 is expected; a UTF-8 or UTF-16 byte-order mark is honoured (editors on Windows write them). Any other
bytes are a :class:`ConfigError` naming the file, the line and the first byte that is not UTF-8, never a
``UnicodeDecodeError``.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from audit.core.errors import ConfigError

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def read_text(path: str | Path) -> str:
    """The text of a file the user names; a missing, unreadable or non-UTF-8 file is a one-line ConfigError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_text(raw, path)


def decode_text(raw: bytes, source: str | Path) -> str:
    """``raw`` as text (UTF-8, or UTF-8/UTF-16 with a byte-order mark); ``source`` names it in the error."""
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding == "utf-16":
            raise ConfigError(f"{source}: not UTF-16 text although it starts like it; save it as UTF-8") from None
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{source}: not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line} ({exc.reason}); "
            "save the file as UTF-8"
        ) from None
    if "\x00" in text:
        raise ConfigError(f"{source}: holds NUL characters: not a text file")
    return text
