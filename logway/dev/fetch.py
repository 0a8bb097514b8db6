"""Fetching servers and tools: Maven, Java, archives, and Go programs built from the module
proxy."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from logway.dev.config import DevError


def require_tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if not found:
        raise DevError(f"`{name}` was not found on PATH. {hint}")
    return found


def run_maven(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        errors = [line for line in result.stdout.splitlines() if "ERROR" in line][:5]
        raise DevError(
            f"Maven could not fetch {what} (exit {result.returncode}). Is Maven Central "
            f"reachable from here (proxy settings in ~/.m2/settings.xml)?\n" + "\n".join(errors)
        )


def _java_version(java_home: Path) -> int | None:
    try:
        release = (java_home / "release").read_text()
    except OSError:
        return None
    for line in release.splitlines():
        if line.startswith("JAVA_VERSION="):
            version = line.split("=", 1)[1].strip('"')
            head = version.split(".")[0]
            return int(head) if head.isdigit() else None
    return None


def find_java_home(minimum: int, variable: str, why: str) -> Path:
    """A JDK of at least `minimum`: from `variable`, else the newest under /usr/lib/jvm."""
    explicit = os.environ.get(variable)
    if explicit:
        home = Path(explicit)
        version = _java_version(home)
        if version is None or version < minimum or not (home / "bin" / "java").exists():
            raise DevError(f"{variable}={explicit} is not a Java {minimum}+ home. {why}.")
        return home
    candidates = []
    for home in Path("/usr/lib/jvm").glob("*"):
        version = _java_version(home)
        if version and version >= minimum and (home / "bin" / "java").exists():
            candidates.append((version, home))
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (_java_version(Path(java_home)) or 0) >= minimum:
        candidates.append((_java_version(Path(java_home)) or 0, Path(java_home)))
    if not candidates:
        raise DevError(
            f"{why}, and none was found under /usr/lib/jvm. Install one "
            f"(e.g. apt-get install openjdk-21-jdk-headless) or set {variable}."
        )
    return max(candidates)[1]


def require_java(minimum: int, variable: str, why: str) -> str:
    if os.environ.get(variable):
        return str(find_java_home(minimum, variable, why) / "bin" / "java")
    java = shutil.which("java")
    if java:
        return java
    return str(find_java_home(minimum, variable, why) / "bin" / "java")


def unzip_keeping_modes(archive: Path, target: Path) -> None:
    """Unpack a zip, restoring the Unix permission bits (Python's zipfile drops them)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, target))
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    path.chmod(mode)
    except zipfile.BadZipFile as exc:
        archive.unlink(missing_ok=True)
        raise DevError(f"{archive} is not a valid zip ({exc}); removed it, run again") from exc


def go_build(work: Path, package: str, binary: Path, ldflags: str, what: str) -> None:
    """`go build` of `package` in the wrapper module `work` into `binary`, written whole or not
    at all (a build cut short leaves no binary behind to be taken for a good one)."""
    go = require_tool("go", f"{what} is built from the Go module proxy: install Go 1.26+")
    partial = binary.with_suffix(".partial")
    result = subprocess.run(
        [go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(partial), package],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, "GOFLAGS": "-mod=mod"},
    )
    if result.returncode != 0:
        raise DevError(f"building {what} failed:\n{result.stderr[-3000:]}")
    partial.rename(binary)
