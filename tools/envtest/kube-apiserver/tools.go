//go:build tools

// Package tools records the program build.sh compiles, so go mod tidy keeps
// its dependencies in go.sum. The build tag keeps it out of every build.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
