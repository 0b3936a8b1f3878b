"""Make the scenario's hostile wheel and a lock that names it: a package whose .pth runs code.

Python runs every ``import`` line of a ``.pth`` file in site-packages at the
start of each interpreter of the environment, before any package is imported:
what a malicious wheel would use to run as whoever next starts that Python. The
probe's line appends the uid it ran as to ``<environment>/pth-probe-ran-as``
(and stays quiet where it may not write), so the scenario can tell that the
code ran during the build and never as root.

    pth_probe.py LOCK CACHE OUT_LOCK

writes the wheel into the wheel mirror's content-addressed cache CACHE
(``<cache>/sha256/<hash>``, where ``tools/wheel_mirror.py sync`` looks before
downloading) and OUT_LOCK: LOCK plus a [[packages]] entry for the wheel, with
its hash, under a PyPI URL as a published package would have. Deterministic:
the same bytes, and so the same hash, every time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import zipfile
from pathlib import Path

NAME, VERSION = "pth-probe", "1.0"
WHEEL = f"pth_probe-{VERSION}-py3-none-any.whl"
URL = f"https://files.pythonhosted.org/packages/00/00/{WHEEL}"
MARKER = "pth-probe-ran-as"
PTH_LINE = (
    "import os, sys; exec(\"try:\\n with open(os.path.join(sys.prefix, '" + MARKER + "'), 'a') as f:"
    " f.write('%d\\\\n' % os.getuid())\\nexcept OSError:\\n pass\")\n"
)
DIST_INFO = f"pth_probe-{VERSION}.dist-info"
FILES = {
    "pth_probe.pth": PTH_LINE,
    f"{DIST_INFO}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n",
    f"{DIST_INFO}/WHEEL": "Wheel-Version: 1.0\nGenerator: pth_probe.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}


def record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def wheel_bytes() -> bytes:
    contents = {path: text.encode() for path, text in FILES.items()}
    record = "".join(record_line(path, data) for path, data in contents.items()) + f"{DIST_INFO}/RECORD,,\n"
    contents[f"{DIST_INFO}/RECORD"] = record.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in contents.items():
            wheel.writestr(zipfile.ZipInfo(path, date_time=(2026, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def main(lock: str, cache: str, out_lock: str) -> None:
    data = wheel_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    cached = Path(cache) / "sha256" / sha256
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    entry = (
        f'\n[[packages]]\nname = "{NAME}"\nversion = "{VERSION}"\n'
        f'wheels = [{{ url = "{URL}", size = {len(data)}, hashes = {{ sha256 = "{sha256}" }} }}]\n'
    )
    Path(out_lock).parent.mkdir(parents=True, exist_ok=True)
    Path(out_lock).write_text(Path(lock).read_text() + entry)


if __name__ == "__main__":
    main(*sys.argv[1:4])
