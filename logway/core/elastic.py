"""How a logway process reaches Elasticsearch: the URL and, on a secured cluster, its login.

One `ElasticConnection` is read from the environment at start-up (`ElasticConnection.from_env`)
and every Elasticsearch client of the process is made from it (`client`), as `KafkaConnection`
does for Kafka. ECK serves HTTPS with its own CA and security on; these settings reach it.

| variable | meaning |
| --- | --- |
| `LOGWAY_ES_URL` | `http(s)://host:port` (default `http://127.0.0.1:9200`); no credentials in it |
| `LOGWAY_ES_API_KEY_FILE` | a file holding an API key (the `encoded` form Elasticsearch returns) |
| `LOGWAY_ES_API_KEY` | the API key itself, when no file is given |
| `LOGWAY_ES_USERNAME` | basic auth user (ECK's `elastic`, or a user made for logway) |
| `LOGWAY_ES_PASSWORD_FILE` | a file holding its password (ECK's `<name>-es-elastic-user` Secret) |
| `LOGWAY_ES_PASSWORD` | the password itself, when no file is given |
| `LOGWAY_ES_CA_FILE` | PEM of the CA that signed the cluster (ECK: `<name>-es-http-certs-public`) |
| `LOGWAY_ES_CERT_FILE`, `LOGWAY_ES_KEY_FILE` | PEM client certificate and key (mutual TLS) |
| `LOGWAY_ES_VERIFY_CERTS` | `true` (default) or `false`: check the server's certificate |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from logway.core.login import check_tls_files, problems

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

DEFAULT_ES_URL = "http://127.0.0.1:9200"

ENVIRONMENT = {
    "url": "LOGWAY_ES_URL",
    "api_key": "LOGWAY_ES_API_KEY",
    "username": "LOGWAY_ES_USERNAME",
    "password": "LOGWAY_ES_PASSWORD",
    "ca_file": "LOGWAY_ES_CA_FILE",
    "cert_file": "LOGWAY_ES_CERT_FILE",
    "key_file": "LOGWAY_ES_KEY_FILE",
    "verify_certs": "LOGWAY_ES_VERIFY_CERTS",
}
# Secrets are best mounted files; each of these names the file of the setting it reads.
SECRET_FILES = {
    "api_key": "LOGWAY_ES_API_KEY_FILE",
    "password": "LOGWAY_ES_PASSWORD_FILE",
}


class ElasticSettingsError(ValueError):
    """The Elasticsearch settings in the environment are incomplete or contradict each other."""


@dataclass(frozen=True)
class ElasticProblem:
    """Why Elasticsearch did not answer. `refused`: it answered but would not let us in (a
    login, a role, a certificate): waiting will not help, the settings must change."""

    message: str
    refused: bool

    def __str__(self) -> str:
        return self.message


class ElasticConnection(BaseModel):
    """The Elasticsearch cluster one process talks to, and how it proves who it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        DEFAULT_ES_URL,
        description="Elasticsearch URL, http(s)://host:port.",
        examples=["http://127.0.0.1:9200", "https://logs-es-http.elastic:9200"],
    )
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = Field(None, description="PEM CA bundle that signed the cluster.")
    cert_file: Path | None = Field(None, description="PEM client certificate (mutual TLS).")
    key_file: Path | None = Field(None, description="PEM key of the client certificate.")
    verify_certs: bool = True

    @model_validator(mode="after")
    def _coherent(self) -> ElasticConnection:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{ENVIRONMENT['url']}: not an http(s)://host:port URL")
        if parts.username or parts.password:
            raise ValueError(
                f"{ENVIRONMENT['url']} carries a login; put the user in {ENVIRONMENT['username']} "
                f"and the password in a file named by {SECRET_FILES['password']}"
            )
        if self.api_key and (self.username or self.password):
            raise ValueError(
                f"both an API key and a username/password are set; keep one "
                f"({SECRET_FILES['api_key']} or {ENVIRONMENT['username']})"
            )
        if bool(self.username) != bool(self.password):
            raise ValueError(
                f"basic auth needs both {ENVIRONMENT['username']} and a password "
                f"({SECRET_FILES['password']} or {ENVIRONMENT['password']})"
            )
        tls = parts.scheme == "https"
        if not tls and (self.ca_file or self.cert_file or self.key_file or not self.verify_certs):
            raise ValueError(
                f"TLS settings are set but {ENVIRONMENT['url']} is http://; use https://"
            )
        files = {"ca_file": self.ca_file, "cert_file": self.cert_file, "key_file": self.key_file}
        check_tls_files(files, ENVIRONMENT)
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ElasticConnection:
        """Read the `LOGWAY_ES_*` variables; raise `ElasticSettingsError` naming what to fix
        (never a secret's value)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            field: env[variable] for field, variable in ENVIRONMENT.items() if env.get(variable)
        }
        for field, variable in SECRET_FILES.items():
            if env.get(variable):
                path = Path(env[variable])
                try:
                    values[field] = path.read_text().strip()
                except OSError as exc:
                    raise ElasticSettingsError(
                        f"{variable}: cannot read {path}: {exc.strerror}"
                    ) from exc
        if "verify_certs" in values:
            flag = values["verify_certs"].strip().lower()
            if flag not in ("true", "false"):
                raise ElasticSettingsError(f"{ENVIRONMENT['verify_certs']}: true or false")
            values["verify_certs"] = flag == "true"
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ElasticSettingsError(problems(exc, ENVIRONMENT)) from None

    @property
    def secured(self) -> bool:
        return bool(self.api_key or self.username or self.url.startswith("https://"))

    def __str__(self) -> str:
        login = (
            f" as {self.username}" if self.username else " with an API key" if self.api_key else ""
        )
        return f"{self.url}{login}"

    def environment(self) -> dict[str, str]:
        """The `LOGWAY_ES_*` variables that make a child process connect the same way
        (`from_env` reads them back). Secrets are passed by value."""
        env: dict[str, str] = {}
        for field, variable in ENVIRONMENT.items():
            value = getattr(self, field)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if field == "verify_certs":
                if not value:
                    env[variable] = "false"
            elif value is not None:
                env[variable] = str(value)
        return env

    def client(self, **options: Any) -> Elasticsearch:
        """An `elasticsearch.Elasticsearch` client for this cluster and login; `options` are
        the client's own (request_timeout, max_retries...)."""
        from elasticsearch import Elasticsearch

        settings: dict[str, Any] = {}
        if self.api_key:
            settings["api_key"] = self.api_key.get_secret_value()
        if self.username and self.password:
            settings["basic_auth"] = (self.username, self.password.get_secret_value())
        if self.url.startswith("https://"):
            settings["verify_certs"] = self.verify_certs
            if not self.verify_certs:
                settings["ssl_show_warn"] = False
            if self.ca_file:
                settings["ca_certs"] = str(self.ca_file)
            if self.cert_file and self.key_file:
                settings["client_cert"] = str(self.cert_file)
                settings["client_key"] = str(self.key_file)
        return Elasticsearch(self.url, **settings, **options)

    def diagnose(self, timeout_s: float = 5.0) -> ElasticProblem | None:
        """Ask the cluster once who we are: None when it lets us in, else why not, with the
        setting to look at. 401/403 and certificate failures are refusals; anything else
        (connection refused, a timeout, 5xx) is Elasticsearch not being there yet."""
        from elasticsearch import ApiError, TransportError

        client = self.client(request_timeout=timeout_s, max_retries=0)
        try:
            if self.secured:
                client.security.authenticate()
            else:
                client.info()
            return None
        except ApiError as exc:
            return self._refusal(exc.meta.status, _reason(exc))
        except TransportError as exc:
            # The transport's own words ("TLS error") hide the cause; its message has it.
            return self._unreachable(str(getattr(exc, "message", exc)))
        finally:
            client.close()

    def _refusal(self, status: int, reason: str) -> ElasticProblem:
        if status == 401:
            what = "the API key" if self.api_key else "the username and password"
            return ElasticProblem(f"401: {reason}; check {what}", refused=True)
        if status == 403:
            return ElasticProblem(f"403: {reason}; the login lacks a privilege", refused=True)
        return ElasticProblem(f"{status}: {reason}", refused=False)

    @staticmethod
    def _unreachable(text: str) -> ElasticProblem:
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return ElasticProblem(
                f"the server's certificate is not trusted ({text[:200]}); check "
                f"{ENVIRONMENT['ca_file']} and the URL's host name",
                refused=True,
            )
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return ElasticProblem(
                f"TLS to a server that does not speak it ({text[:120]}); check whether "
                f"{ENVIRONMENT['url']} should be http://",
                refused=True,
            )
        return ElasticProblem(text[:300], refused=False)


def index_lists(names: list[str], per_list: int = 40) -> list[str]:
    """`names` as comma-separated lists for request paths (`/<indices>/_refresh`), each short
    enough for Elasticsearch, which refuses an HTTP line over 4 KiB (and wildcards in deletes):
    40 of the longest generation names (86 characters) make a line of about 3.5 KiB."""
    return [",".join(names[at : at + per_list]) for at in range(0, len(names), per_list)]


def _reason(exc: Any) -> str:
    """Elasticsearch's own reason from an error response, else the error's text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("reason"), str):
            return str(error["reason"])[:300]
    return str(exc)[:300]
