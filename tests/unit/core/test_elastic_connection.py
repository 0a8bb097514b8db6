"""The Elasticsearch login settings: read from LOGWAY_ES_*, checked for coherence with errors
that name the variable to fix, never printing a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from logway.core.elastic import ElasticConnection, ElasticSettingsError


def test_nothing_set_is_the_local_cluster_without_a_login() -> None:
    es = ElasticConnection.from_env({})
    assert es.url == "http://127.0.0.1:9200"
    assert not es.secured
    assert es.environment() == {"LOGWAY_ES_URL": "http://127.0.0.1:9200"}


def test_an_api_key_is_read_from_a_mounted_file_and_never_shown(tmp_path: Path) -> None:
    (tmp_path / "api-key").write_text("c2VjcmV0LWtleQ==\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    es = ElasticConnection.from_env(
        {
            "LOGWAY_ES_URL": "https://logs-es-http.elastic:9200",
            "LOGWAY_ES_API_KEY_FILE": str(tmp_path / "api-key"),
            "LOGWAY_ES_CA_FILE": str(tmp_path / "ca.crt"),
        }
    )
    assert es.api_key is not None
    assert es.api_key.get_secret_value() == "c2VjcmV0LWtleQ=="
    assert "c2VjcmV0" not in str(es)
    assert "c2VjcmV0" not in repr(es)
    assert str(es) == "https://logs-es-http.elastic:9200 with an API key"
    # A child process gets the same login (by value) and reads it back the same.
    assert ElasticConnection.from_env(es.environment()) == es


def test_basic_auth_with_the_password_in_a_file(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("from-a-secret\n")
    es = ElasticConnection.from_env(
        {
            "LOGWAY_ES_URL": "https://es:9200",
            "LOGWAY_ES_USERNAME": "logway",
            "LOGWAY_ES_PASSWORD_FILE": str(tmp_path / "password"),
            "LOGWAY_ES_VERIFY_CERTS": "false",
        }
    )
    assert es.password is not None
    assert es.password.get_secret_value() == "from-a-secret"
    assert es.verify_certs is False
    assert str(es) == "https://es:9200 as logway"
    assert ElasticConnection.from_env(es.environment()) == es


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        (
            {"LOGWAY_ES_URL": "http://elastic:hunter2@es:9200"},
            "LOGWAY_ES_URL carries a login; put the user in LOGWAY_ES_USERNAME",
        ),
        ({"LOGWAY_ES_URL": "es:9200"}, "LOGWAY_ES_URL: not an http(s)://host:port URL"),
        (
            {"LOGWAY_ES_URL": "https://es:9200", "LOGWAY_ES_USERNAME": "logway"},
            "basic auth needs both LOGWAY_ES_USERNAME and a password",
        ),
        (
            {
                "LOGWAY_ES_URL": "https://es:9200",
                "LOGWAY_ES_API_KEY": "hunter2",
                "LOGWAY_ES_USERNAME": "logway",
                "LOGWAY_ES_PASSWORD": "hunter2",
            },
            "both an API key and a username/password are set",
        ),
        (
            {"LOGWAY_ES_URL": "http://es:9200", "LOGWAY_ES_VERIFY_CERTS": "false"},
            "TLS settings are set but LOGWAY_ES_URL is http://; use https://",
        ),
        ({"LOGWAY_ES_VERIFY_CERTS": "no"}, "LOGWAY_ES_VERIFY_CERTS: true or false"),
        (
            {"LOGWAY_ES_URL": "https://es:9200", "LOGWAY_ES_CA_FILE": "/nonexistent/ca.crt"},
            "LOGWAY_ES_CA_FILE: /nonexistent/ca.crt is not a readable file",
        ),
        (
            {"LOGWAY_ES_PASSWORD_FILE": "/nonexistent/password"},
            "LOGWAY_ES_PASSWORD_FILE: cannot read /nonexistent/password",
        ),
    ],
)
def test_incoherent_settings_name_the_variable_and_hide_the_secret(
    environ: dict[str, str], says: str
) -> None:
    with pytest.raises(ElasticSettingsError) as refused:
        ElasticConnection.from_env(environ)
    assert says in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_a_client_carries_the_login() -> None:
    es = ElasticConnection(url="https://es:9200", username="logway", password="pw")
    client = es.client(request_timeout=3)
    try:
        assert client.transport.node_pool.get().config.scheme == "https"
        assert client._headers["authorization"].startswith("Basic ")
    finally:
        client.close()
