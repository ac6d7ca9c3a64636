#!/bin/sh
# Installs the Debian 12 packages tepui builds, tests and demos with.
# Idempotent and quiet: prints nothing when everything is already there.
# ZooKeeper: the C client to build with; the server (zookeeper, not the
# zookeeperd service) only for the tests, which start their own on loopback.
set -eu

PACKAGES="
build-essential pkg-config git
libevent-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev
libjansson-dev libsqlite3-dev libcurl4-openssl-dev libarchive-dev libssl-dev uthash-dev
libcmocka-dev golang-go golang-github-mesos-mesos-go-dev
libzookeeper-mt-dev zookeeper default-jre-headless
curl procps psmisc
graphviz chromium gnuplot-nox jq
crun busybox-static
"

missing=""
for p in $PACKAGES ${TEPUI_EXTRA_PACKAGES:-}; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root (or sudo) to install:$missing" >&2; exit 1; }
    SUDO="sudo"
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing </dev/null >/dev/null
