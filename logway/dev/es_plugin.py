"""The dev Elasticsearch's one extra plugin: the analysis components its security index needs.

The integ-test distribution has x-pack-security but not the analysis-common module, and the
`.security` index, where native roles and API keys live, declares an analyzer made of
analysis-common's `pattern_capture`, `uax_url_email` and `unique`. So, untouched, the dev
server refuses every role and API key. `LogwayDevAnalysisPlugin.java` registers those three
names on the Lucene classes analysis-common itself uses; it is compiled here, once per source
change, against the distribution's own jars, and put in its `plugins/` folder. Production
clusters (ECK, any default distribution) have analysis-common and need nothing of this.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

PLUGIN = "logway-dev-analysis"
SOURCE = "LogwayDevAnalysisPlugin.java"
CLASS = "org.logway.dev.analysis.LogwayDevAnalysisPlugin"


class PluginBuildError(Exception):
    """javac or jar failed; the message has their output."""


def install_analysis_plugin(es_home: Path, es_version: str, java_home: Path) -> bool:
    """Build and install the plugin into `es_home/plugins` unless the same source is there.
    Returns whether it (re)built."""
    source = resources.files("logway.dev").joinpath(SOURCE).read_bytes()
    digest = hashlib.sha256(source + es_version.encode()).hexdigest()
    target = es_home / "plugins" / PLUGIN
    stamp = target / "source.sha256"
    if stamp.exists() and stamp.read_text().strip() == digest:
        return False
    with tempfile.TemporaryDirectory(prefix="logway-es-plugin-") as work:
        build = Path(work)
        (build / SOURCE).write_bytes(source)
        classpath = ":".join(str(jar) for jar in sorted((es_home / "lib").glob("*.jar")))
        _run(
            [
                str(java_home / "bin" / "javac"),
                "--release",
                "21",
                "-cp",
                classpath,
                "-d",
                str(build / "classes"),
                str(build / SOURCE),
            ]
        )
        _run(
            [
                str(java_home / "bin" / "jar"),
                "--create",
                "--file",
                str(build / f"{PLUGIN}.jar"),
                "-C",
                str(build / "classes"),
                ".",
            ]
        )
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copyfile(build / f"{PLUGIN}.jar", target / f"{PLUGIN}.jar")
    (target / "plugin-descriptor.properties").write_text(
        "\n".join(
            [
                "description=analysis-common's pattern_capture, uax_url_email and unique, "
                "for the security index of logway's dev Elasticsearch",
                f"version={es_version}",
                f"name={PLUGIN}",
                f"classname={CLASS}",
                "java.version=21",
                f"elasticsearch.version={es_version}",
                "",
            ]
        )
    )
    stamp.write_text(digest + "\n")
    for path in [target, *target.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return True


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PluginBuildError(f"{Path(argv[0]).name} failed: {result.stdout}{result.stderr}")
