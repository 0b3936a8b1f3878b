#!/usr/bin/env python3
"""Write the nvidia_gpu scenario's fixtures, as prepare.yml describes them, in one run.

prepare.yml holds what the fixtures are (its vars); this only writes them out, because one
module call per folder, file and link cost minutes of the scenario. Usage, in the instance:

    python3 build_fixtures.py SPEC

SPEC, in JSON, has either ``sysfs`` (trees shaped like /sys/bus/pci and /sys/module) or ``packages``
(stand-in packages built with dpkg-deb, and a flat repository of the newer ones).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path


def folder(path: Path) -> Path:
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def write(path: Path, content: str, mode: int) -> None:
    folder(path.parent)
    path.write_text(content)
    path.chmod(mode)


def sysfs(spec: dict) -> None:
    """bus/pci/devices/ADDRESS links to the function's folder under devices/, with vendor and class."""
    root = Path(spec["root"])
    for tree in spec["trees"]:
        bus = folder(root / tree["name"] / "bus/pci/devices")
        for function in tree["functions"]:
            device = folder(root / tree["name"] / "devices/pci0000:00" / function["address"])
            for field in ("vendor", "class"):
                write(device / field, f"{function[field]}\n", 0o444)
            link = bus / function["address"]
            if not link.is_symlink():
                link.symlink_to(f"../../../devices/pci0000:00/{function['address']}")
    for module in spec["module_folders"]:
        folder(Path(spec["modules"]) / module)
    for path, content in spec["module_files"].items():
        write(Path(spec["modules"]) / path, content, 0o444)


def control(package: dict) -> str:
    depends = f"Depends: {package['depends']}\n" if "depends" in package else ""
    return (
        f"Package: {package['name']}\nVersion: {package['version']}\nSource: {package['source']}\n"
        "Architecture: all\nMaintainer: nvidia_gpu molecule scenario <root@localhost>\n"
        f"{depends}Description: stand-in for {package['name']} (tests of the nvidia_gpu role)\n"
    )


def build(spec: dict, package: dict, dest: Path) -> Path:
    """One stand-in package. Each carries a file: dpkg drops a package without files as soon as
    another one is unpacked ("disappears" it)."""
    tree = Path(spec["build"]) / f"{package['name']}_{package['version']}"
    write(tree / "usr/share/doc" / package["name"] / "README",
          f"Stand-in for {package['name']}, built by the nvidia_gpu role's molecule scenario.\n", 0o644)  # fmt: skip
    write(tree / "DEBIAN/control", control(package), 0o644)
    if "file" in package:
        write(tree / package["file"].lstrip("/"), spec["files"][package["file"]], 0o755)
    if package["name"] in spec["postinst"]:
        write(tree / "DEBIAN/postinst", spec["postinst"][package["name"]], 0o755)
    deb = folder(dest) / f"{package['name']}_{package['version']}_all.deb"
    if not deb.exists():
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)], check=True)
    return deb


def packages(spec: dict) -> None:
    for package in spec["installed"]:
        build(spec, package, Path(spec["mirror"]))
    # A flat repository: its index lists each package's control fields and file.
    index = []
    for package in spec["newer"]:
        deb = build(spec, package, Path(spec["repo"]))
        data = deb.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        index.append(f"{control(package)}Filename: ./{deb.name}\nSize: {len(data)}\nSHA256: {digest}\n\n")
    write(Path(spec["repo"]) / "Packages", "".join(index), 0o644)
    write(Path(spec["sources"]), f"deb [trusted=yes] file:{spec['repo']} ./\n", 0o644)


def main() -> int:
    os.umask(0o022)
    spec = json.loads(sys.argv[1])
    if "sysfs" in spec:
        sysfs(spec["sysfs"])
    if "packages" in spec:
        packages(spec["packages"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
