#!/usr/bin/env bash
# Builds the control-plane binaries envtest starts (etcd, kube-apiserver)
# from Go modules, into OUTDIR, for KUBEBUILDER_ASSETS=OUTDIR.
#
#   tools/envtest/build.sh [OUTDIR]     default: bin/envtest/<k8s version>
#
# setup-envtest downloads prebuilt binaries, which this network does not
# reach; the Go module proxy does. etcd and kubernetes both carry replace
# directives, so `go install pkg@version` is refused: each binary is built
# from a wrapper module beside this script (etcd/, kube-apiserver/) whose
# go.mod pins the version and whose committed go.sum makes the build
# reproducible. Cold, on two cores: etcd about a minute, kube-apiserver about
# ten.
#
# A binary is rebuilt only when missing or when its wrapper's go.mod changed
# since it was built: OUTDIR/<name>.stamp records the module version and the
# go.mod's hash. FORCE=1 rebuilds anyway. The compiler runs at nice
# ENVTEST_NICE (default 10) because the machines' cores are shared.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
go="${GO:-go}"
nice_level="${ENVTEST_NICE:-10}"

# mod_version DIR MODULE prints the version DIR's go.mod requires of MODULE.
mod_version() {
	GOWORK=off "$go" -C "$1" list -m -f '{{.Version}}' "$2"
}

k8s_version="$(mod_version "$here/kube-apiserver" k8s.io/kubernetes)"
etcd_version="$(mod_version "$here/etcd" go.etcd.io/etcd/server/v3)"

outdir="${1:-$repo/bin/envtest/${k8s_version#v}}"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"

# build NAME WRAPPER_DIR PACKAGE VERSION [LDFLAGS]
build() {
	local name="$1" dir="$2" pkg="$3" version="$4" ldflags="${5:-}"
	local bin="$outdir/$name" stamp="$outdir/$name.stamp"
	local want
	want="$pkg $version go.mod:$(sha256sum "$dir/go.mod" | cut -d' ' -f1) ldflags:$ldflags"
	if [[ "${FORCE:-0}" != 1 && -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		echo "envtest: $name $version already built in $outdir"
		return
	fi
	echo "envtest: building $name $version into $outdir (this takes a while)"
	local start=$SECONDS
	# Build beside the target and rename, so an interrupted build never
	# leaves a truncated binary that a later run would take as done.
	rm -f "$stamp"
	# CGO off: static binaries, and no C toolchain needed. GOWORK off: a
	# go.work in a parent directory must not pull the wrapper into it.
	GOWORK=off CGO_ENABLED=0 nice -n "$nice_level" \
		"$go" -C "$dir" build -mod=readonly -trimpath -ldflags="$ldflags" -o "$bin.tmp" "$pkg"
	mv -f "$bin.tmp" "$bin"
	echo "$want" >"$stamp"
	echo "envtest: built $name in $((SECONDS - start)) s ($(du -h "$bin" | cut -f1))"
}

build etcd "$here/etcd" go.etcd.io/etcd/server/v3 "$etcd_version"
# Kubernetes' own build stamps the version with -X; without it the server
# reports v0.0.0-master, which kubectl and helm take for a pre-release.
# Only the link step depends on these flags, so changing them is cheap.
k8s_minor="${k8s_version#v*.}"
k8s_minor="${k8s_minor%%.*}"
k8s_major="${k8s_version#v}"
k8s_major="${k8s_major%%.*}"
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$k8s_major -X $pkg.gitMinor=$k8s_minor -X $pkg.gitTreeState=clean"
done
build kube-apiserver "$here/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$k8s_version" "${k8s_ldflags# }"

# Not `| head -n 1`: under pipefail, etcd dying of SIGPIPE when head has
# read its line would fail the script (exit 141), depending on timing.
etcd_about="$("$outdir/etcd" --version)"
echo "${etcd_about%%$'\n'*}"
"$outdir/kube-apiserver" --version
echo "envtest: KUBEBUILDER_ASSETS=$outdir"
