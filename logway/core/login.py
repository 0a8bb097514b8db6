"""What the Kafka and Elasticsearch connection settings share: their TLS files, and turning a
validation error into the names of the variables to fix."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError


def check_tls_files(files: Mapping[str, Path | None], variables: Mapping[str, str]) -> None:
    """A client certificate comes with its key, and every file given is readable; raises
    ValueError naming the variable (`variables`: field -> environment variable)."""
    if (files.get("cert_file") is None) != (files.get("key_file") is None):
        raise ValueError("a client certificate needs its key, and a key its certificate")
    for name, path in files.items():
        if path is not None and not path.is_file():
            raise ValueError(f"{variables[name]}: {path} is not a readable file")


def problems(exc: ValidationError, variables: Mapping[str, str]) -> str:
    """Each error of `exc`, after the variable of its field when it has one."""
    found = []
    for error in exc.errors():
        where = variables.get(str(error["loc"][0]), "") if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        found.append(f"{where}: {message}" if where else message)
    return "; ".join(found)
