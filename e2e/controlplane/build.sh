#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) from the
# sources pinned in go.mod/go.sum beside this script, and Helm from helm/go.mod, into
# target/controlplane/bin/.
#
# The Go build cache makes a second run cheap: it recompiles nothing and relinks only a
# binary whose inputs changed. Under CI=true (or SQSRAFT_REQUIRE_ALL=1) every missing
# prerequisite fails with its reason; otherwise the script exits 3 so callers can skip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${SQSRAFT_CONTROLPLANE_BIN:-$root/target/controlplane/bin}"
strict=0
if [ "${CI:-}" = "true" ] || [ "${SQSRAFT_REQUIRE_ALL:-}" = "1" ]; then strict=1; fi

fail() {
  echo "control plane build: $*" >&2
  if ((strict)); then exit 1; fi
  exit 3
}

# Go's own install location on these machines, in case the caller's PATH lacks it.
PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null 2>&1 || fail "no 'go' on PATH (Go >= 1.26 is needed to build Kubernetes 1.37)"
cd "$here"
# go.sum is committed: a build must never rewrite it.
export GOFLAGS="-mod=readonly ${GOFLAGS:-}"
mkdir -p "$out"

for module in "$here" "$here/helm"; do
  if ! (cd "$module" && go mod download) 2>"$out/download.log"; then
    fail "downloading the modules pinned in $module/go.mod failed (is the Go module proxy reachable?): $(tail -5 "$out/download.log")"
  fi
done
rm -f "$out/download.log"

# The API server reports this version in /version (Helm checks a chart's kubeVersion
# against it); without it the binaries would call themselves v0.0.0-master.
kube_version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
minor="${kube_version#v1.}"
minor="${minor%%.*}"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"

start=$SECONDS
build() { # build NAME PACKAGE [LDFLAGS]
  if ! go build -trimpath -ldflags="${3:-$ldflags}" -o "$out/$1" "$2" 2>"$out/$1.build.log"; then
    fail "building $1 ($2) failed: $(tail -20 "$out/$1.build.log")"
  fi
  rm -f "$out/$1.build.log"
}
build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
build kubectl k8s.io/kubernetes/cmd/kubectl
(cd helm && build helm helm.sh/helm/v4/cmd/helm "-s -w")
echo "control plane $kube_version ready in $out ($((SECONDS - start)) s)"
