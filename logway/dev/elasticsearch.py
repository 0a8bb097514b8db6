"""The dev Elasticsearch: the integ-test distribution with security on, over HTTPS."""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import SecretStr

from logway.core.elastic import ElasticConnection
from logway.dev.config import ES_ARTIFACT, NOBODY_GID, NOBODY_UID, PLATFORM_USER, DevError, Say
from logway.dev.es_plugin import PLUGIN, PluginBuildError, install_analysis_plugin
from logway.dev.fetch import find_java_home, require_tool, run_maven, unzip_keeping_modes
from logway.dev.kafka import Kafka
from logway.dev.process import Server, reachable_by_nobody, running_as_root
from logway.dev.tls import basic_auth, dev_ca, issue_certificate


class Elasticsearch(Server):
    """Elasticsearch from the integ-test distribution, single node on loopback, with security
    and TLS on as ECK runs it: HTTPS with a certificate of the dev CA, and a file-realm super
    user for the platform (`logway-platform`, its password in `platform.password`)."""

    name = "elasticsearch"

    @property
    def base(self) -> Path:
        """Where the distribution is unpacked: readable by the user ES runs as."""
        if running_as_root():
            return reachable_by_nobody("dist", self.config.dist)
        return self.config.dist

    @property
    def es_home(self) -> Path:
        return self.base / f"elasticsearch-{self.config.es_version}"

    @property
    def es_run(self) -> Path:
        return reachable_by_nobody("run", self.config.home) if running_as_root() else self.run_dir

    @property
    def address(self) -> str:
        return self.config.es_url

    @property
    def port(self) -> int:
        return self.config.es_port

    @property
    def ports(self) -> tuple[int, ...]:
        return self.config.es_port, self.config.es_transport_port

    @property
    def marker(self) -> str:
        # setpriv, then bin/elasticsearch, then the launcher JVM: all name the ES home.
        return str(self.es_home)

    @property
    def data_dir(self) -> Path:
        return self.es_run / "data"

    @property
    def log_file(self) -> Path:
        return self.es_run / "logs" / "stdout.log"

    def fetch(self, say: Say) -> None:
        done = self.es_home / ".complete"
        if not done.exists():
            self._unpack(say)
            done.touch()
        java_home = find_java_home(21, "LOGWAY_ES_JAVA_HOME", "Elasticsearch 9 needs Java 21+")
        try:
            if install_analysis_plugin(self.es_home, self.config.es_version, java_home):
                say(f"elasticsearch: built the {PLUGIN} plugin (the security index needs it)")
        except PluginBuildError as error:
            raise DevError(f"elasticsearch: {error}") from error

    def _unpack(self, say: Say) -> None:
        mvn = require_tool(
            "mvn", "Maven fetches Elasticsearch from Maven Central: apt-get install maven"
        )
        version = self.config.es_version
        zips = self.config.dist / "zips"
        zips.mkdir(parents=True, exist_ok=True)
        archive = zips / f"elasticsearch-{version}.zip"
        if not archive.exists():
            say(f"elasticsearch: fetching Elasticsearch {version} (integ-test zip) with Maven")
            run_maven(
                [
                    mvn,
                    "-q",
                    "-B",
                    "dependency:copy",
                    f"-Dartifact={ES_ARTIFACT.format(version=version)}",
                    f"-DoutputDirectory={zips}",
                ],
                f"Elasticsearch {version}",
            )
        say(f"elasticsearch: unpacking into {self.base}")
        shutil.rmtree(self.es_home, ignore_errors=True)
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        unzip_keeping_modes(archive, self.base)

    @property
    def ca_file(self) -> Path:
        """The dev CA, the same one that signed Kafka's TLS listener."""
        return Kafka(self.config).ca_file

    @property
    def platform_password_file(self) -> Path:
        return self.run_dir / "platform.password"

    def platform_connection(self) -> ElasticConnection:
        """How logway's processes log in: the platform's super user over HTTPS, trusting the
        dev CA, as they would log in to an ECK cluster as its `elastic` user."""
        return ElasticConnection(
            url=self.config.es_url,
            username=PLATFORM_USER,
            password=SecretStr(self.platform_password_file.read_text().strip()),
            ca_file=self.ca_file.absolute(),
        )

    def _write_certificates(self, conf: Path) -> None:
        """The HTTP certificate, issued by the dev CA once, copied where ES reads it."""
        tls = self.ca_file.parent
        dev_ca(tls)
        if not (tls / "elasticsearch.crt").exists():
            issue_certificate(tls, "elasticsearch")
        (conf / "tls").mkdir(exist_ok=True)
        for source, target in [("ca.crt", "ca.crt"), ("elasticsearch.crt", "http.crt")]:
            shutil.copyfile(tls / source, conf / "tls" / target)
        shutil.copyfile(tls / "elasticsearch.key", conf / "tls" / "http.key")

    def _write_platform_user(self, conf: Path, env: dict[str, str]) -> None:
        """The platform's super user in the file realm, made once with elasticsearch-users."""
        if not self.platform_password_file.exists():
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.platform_password_file.write_text(secrets.token_urlsafe(24) + "\n")
            self.platform_password_file.chmod(0o600)
        users = conf / "users"
        if users.exists() and any(
            line.startswith(f"{PLATFORM_USER}:") for line in users.read_text().splitlines()
        ):
            return
        password = self.platform_password_file.read_text().strip()
        tool = self.es_home / "bin" / "elasticsearch-users"
        result = subprocess.run(
            [str(tool), "useradd", PLATFORM_USER, "-p", password, "-r", "superuser"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise DevError(f"elasticsearch-users useradd failed: {result.stdout}{result.stderr}")

    def _forget_an_earlier_checkout(self) -> None:
        """Start from nothing when this checkout has no platform password yet. Run as root, ES
        keeps its state under /var/tmp, named after the checkout's path; a new checkout at the
        same path (CI's) would otherwise find the last one's users file, data and security
        index there, and its new password would be refused."""
        if self.es_run != self.run_dir and not self.platform_password_file.exists():
            shutil.rmtree(self.es_run, ignore_errors=True)

    def _write_config(self, env: dict[str, str]) -> Path:
        conf = self.es_run / "config"
        for sub in ("data", "logs", "tmp"):
            (self.es_run / sub).mkdir(parents=True, exist_ok=True)
        if not (conf / "jvm.options").exists():
            shutil.copytree(self.es_home / "config", conf, dirs_exist_ok=True)
        self._write_certificates(conf)
        self._write_platform_user(conf, env)
        c = self.config
        (conf / "elasticsearch.yml").write_text(
            "\n".join(
                [
                    "# Written by `logway dev up`; edits are overwritten.",
                    "cluster.name: logway-dev",
                    "node.name: logway-dev-1",
                    "discovery.type: single-node",
                    "network.host: 127.0.0.1",
                    f"http.port: {c.es_port}",
                    f"transport.port: {c.es_transport_port}",
                    f"path.data: {self.data_dir}",
                    f"path.logs: {self.es_run / 'logs'}",
                    "xpack.security.enabled: true",
                    "xpack.security.http.ssl.enabled: true",
                    "xpack.security.http.ssl.certificate: tls/http.crt",
                    "xpack.security.http.ssl.key: tls/http.key",
                    "xpack.security.http.ssl.certificate_authorities: [tls/ca.crt]",
                    # One node on loopback: nothing travels between nodes to protect.
                    "xpack.security.transport.ssl.enabled: false",
                    # A dev box's disk fills for other reasons; don't turn indices read-only.
                    "cluster.routing.allocation.disk.threshold_enabled: false",
                    "",
                ]
            )
        )
        (conf / "jvm.options.d").mkdir(exist_ok=True)
        (conf / "jvm.options.d" / "heap.options").write_text(f"-Xms{c.es_heap}\n-Xmx{c.es_heap}\n")
        if running_as_root():
            for path in [self.es_run, *self.es_run.rglob("*")]:
                os.chown(path, NOBODY_UID, NOBODY_GID)
        return conf

    def launch(self) -> subprocess.Popen[bytes]:
        java_home = find_java_home(21, "LOGWAY_ES_JAVA_HOME", "Elasticsearch 9 needs Java 21+")
        conf = self.es_run / "config"
        env = {
            **os.environ,
            "ES_JAVA_HOME": str(java_home),
            "ES_PATH_CONF": str(conf),
            "ES_TMPDIR": str(self.es_run / "tmp"),
        }
        self._forget_an_earlier_checkout()
        self._write_config(env)
        argv = [str(self.es_home / "bin" / "elasticsearch")]
        if running_as_root():
            setpriv = require_tool("setpriv", "setpriv (util-linux) runs ES as nobody when root")
            argv = [
                setpriv,
                f"--reuid={NOBODY_UID}",
                f"--regid={NOBODY_GID}",
                "--clear-groups",
                "--",
                *argv,
            ]
            env["HOME"] = str(self.es_run / "tmp")
        log = self.log_file.open("ab")
        return subprocess.Popen(
            argv,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def answers(self) -> bool:
        if not self.platform_password_file.exists() or not self.ca_file.exists():
            return False
        request = urllib.request.Request(  # noqa: S310 - our own loopback URL
            f"{self.address}/_cluster/health?wait_for_status=yellow&timeout=1s",
            headers={"Authorization": basic_auth(PLATFORM_USER, self.platform_password_file)},
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(request, timeout=3, context=context) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False
