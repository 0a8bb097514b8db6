"""Elasticsearch with security and TLS on (the dev runner's, as ECK runs it): every other
integration test already logs in to it as the platform user; these ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from logway.core.elastic import ElasticConnection
from logway.core.settings import Endpoints
from tests.integration.support import logway, refused_sink_log

pytestmark = pytest.mark.integration


@pytest.fixture
def secured(endpoints: Endpoints) -> ElasticConnection:
    if not endpoints.es.url.startswith("https://") or not endpoints.es.username:
        pytest.skip("needs an Elasticsearch with security and TLS on (the dev runner's)")
    return endpoints.es


def with_es(endpoints: Endpoints, es: ElasticConnection) -> Endpoints:
    return Endpoints(kafka=endpoints.kafka, es=es)


def test_the_login_lets_the_platform_in(secured: ElasticConnection) -> None:
    assert secured.diagnose() is None
    client = secured.client()
    try:
        assert client.security.authenticate()["username"] == "logway-platform"
    finally:
        client.close()


def test_a_wrong_password_ends_the_sink_with_exit_2_and_the_reason(
    endpoints: Endpoints, secured: ElasticConnection, tenant_prefix: str, tmp_path: Path
) -> None:
    wrong = secured.model_copy(update={"password": SecretStr("not-the-password")})
    problem = wrong.diagnose()
    assert problem is not None
    assert problem.refused, problem
    assert "401" in problem.message
    assert "check the username and password" in problem.message
    log = refused_sink_log(with_es(endpoints, wrong), tmp_path, tenant_prefix)
    assert "refused us: 401" in log
    assert "not-the-password" not in log


def test_an_unknown_ca_ends_the_sink_and_a_plan_names_the_setting(
    endpoints: Endpoints, secured: ElasticConnection, tenant_prefix: str, tmp_path: Path
) -> None:
    untrusted = secured.model_copy(update={"ca_file": None})  # the system CAs do not know it
    problem = untrusted.diagnose()
    assert problem is not None
    assert problem.refused, problem
    assert "LOGWAY_ES_CA_FILE" in problem.message
    assert "not trusted" in refused_sink_log(with_es(endpoints, untrusted), tmp_path, tenant_prefix)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "t.yaml").write_text(
        f"name: {tenant_prefix}-plan\nowners: {{team: t, slack_channel: '#t', "
        "webhook_secret: T_HOOK}\n"
    )
    planned = logway(with_es(endpoints, untrusted), "plan", str(tmp_path / "t"), check=False)
    assert planned.returncode == 1
    assert "LOGWAY_ES_CA_FILE" in planned.stderr


def test_an_elasticsearch_that_is_not_there_is_waited_for_not_refused(
    secured: ElasticConnection,
) -> None:
    gone = secured.model_copy(update={"url": "https://127.0.0.1:1"})
    problem = gone.diagnose(timeout_s=2)
    assert problem is not None
    assert not problem.refused, problem
