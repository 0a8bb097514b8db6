#!/usr/bin/env bash
# JSON schemas for kubeconform, made offline: no machine that builds logway reaches GitHub.
# The Kubernetes API's OpenAPI document (k8s.io/kubernetes) and the prometheus-operator CRDs
# come from the Go module proxy; helm/k8s_schemas.py converts the first, kubeconform's own
# openapi2jsonschema.py the CRDs.
# usage: helm/schemas.sh <output dir> <python with PyYAML>
set -euo pipefail
out="$(mkdir -p "$(dirname "$1")" && cd "$(dirname "$1")" && pwd)/$(basename "$1")"
python="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
K8S=v1.34.2
PROMETHEUS_OPERATOR=v0.85.0
KUBECONFORM=v0.8.0

module_dir() {
  go mod download -json "$1" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
}

k8s=$(module_dir "k8s.io/kubernetes@$K8S")
operator=$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR")
converter=$(module_dir "github.com/yannh/kubeconform@$KUBECONFORM")/scripts/openapi2jsonschema.py
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export FILENAME_FORMAT='{kind}-{group}-{version}'
"$python" "$here/k8s_schemas.py" "$k8s/api/openapi-spec/swagger.json" . > /dev/null
"$python" "$converter" \
  "$operator/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
  "$operator/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" > /dev/null
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r "$work" "$out"
echo "kubeconform schemas: Kubernetes $K8S, prometheus-operator $PROMETHEUS_OPERATOR -> $out"
