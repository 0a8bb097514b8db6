//go:build tools

// Package tools names the binary this module builds.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
