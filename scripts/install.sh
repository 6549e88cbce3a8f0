#!/usr/bin/env bash
# Installs DarkSpere as a service: the release binary and the example agent in PREFIX/bin,
# the bundled plugins (and PluginKit's library, once) in PREFIX/lib/darkspere, a default
# config and an env file for secrets in SYSCONFDIR/darkspere, the data folder
# STATEDIR/darkspere, a `darkspere` system user and a hardened systemd unit.
#
# Usage: scripts/install.sh [--prefix /usr/local] [--sysconfdir /etc] [--statedir /var/lib]
#                           [--unitdir /etc/systemd/system] [--build-dir DIR] [--no-system]
#   --build-dir DIR  install what DIR holds (a `swift build` output folder) instead of
#                    building a release first
#   --no-system      no system user, no chown, no systemctl (for a test or a packager)
#
# Every file is written next to its target and renamed into place, so a running gateway
# never sees half a binary or a half-written plugin. An existing plugins.yaml or env file is
# kept: the new default is written beside it as plugins.yaml.new (darkspere.env.new).
set -euo pipefail

prefix=/usr/local
sysconfdir=/etc
statedir=/var/lib
unitdir=/etc/systemd/system
builddir=""
system=1

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "install.sh: $1 needs a value" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix) need "$@"; prefix="$2"; shift 2 ;;
        --sysconfdir) need "$@"; sysconfdir="$2"; shift 2 ;;
        --statedir) need "$@"; statedir="$2"; shift 2 ;;
        --unitdir) need "$@"; unitdir="$2"; shift 2 ;;
        --build-dir) need "$@"; builddir="$2"; shift 2 ;;
        --no-system) system=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
for d in "$prefix" "$sysconfdir" "$statedir" "$unitdir"; do
    [[ "$d" == /* ]] || { echo "install.sh: '$d' is not an absolute path" >&2; exit 2; }
done

repo="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -z "$builddir" ]]; then
    echo "building release (swift build -c release)…"
    (cd "$repo" && swift build -c release)
    builddir="$repo/.build/release"
fi
builddir="$(cd "$builddir" && pwd)"
[[ -x "$builddir/darkspere" ]] || { echo "install.sh: no darkspere executable in $builddir" >&2; exit 1; }

bindir="$prefix/bin"
libdir="$prefix/lib/darkspere"
confdir="$sysconfdir/darkspere"
datadir="$statedir/darkspere"

# put MODE SRC DEST: copy next to DEST, then rename over it (atomic on one file system).
put() {
    local mode="$1" src="$2" dest="$3" tmp
    tmp="$(dirname "$dest")/.$(basename "$dest").tmp.$$"
    install -m "$mode" "$src" "$tmp"
    mv -f "$tmp" "$dest"
}
# render TEMPLATE: the template with the install paths filled in.
render() {
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@BINDIR@|$bindir|g" -e "s|@LIBDIR@|$libdir|g" \
        -e "s|@SYSCONFDIR@|$sysconfdir|g" -e "s|@STATEDIR@|$statedir|g" -e "s|@UNITDIR@|$unitdir|g" "$1"
}
# keep_or_new MODE SRC DEST: a config the operator may have edited is never overwritten.
keep_or_new() {
    local mode="$1" src="$2" dest="$3"
    if [[ -e "$dest" ]]; then
        if cmp -s "$src" "$dest"; then return; fi
        put "$mode" "$src" "$dest.new"
        echo "kept $dest (the new default is $dest.new)"
    else
        put "$mode" "$src" "$dest"
        echo "wrote $dest"
    fi
}

install -d -m 0755 "$bindir" "$libdir" "$unitdir"
install -d -m 0755 "$confdir"

put 0755 "$builddir/darkspere" "$bindir/darkspere"
[[ -x "$builddir/darkspere-example-agent" ]] && put 0755 "$builddir/darkspere-example-agent" "$bindir/darkspere-example-agent"
# Bundled plugins: libds-*.so; fixtures and benchmark libraries stay behind. Swift plugins
# find libPluginKit.so next to themselves ($ORIGIN); it is installed once.
count=0
for so in "$builddir"/libds-*.so; do
    [[ -e "$so" ]] || continue
    put 0644 "$so" "$libdir/$(basename "$so")"
    count=$((count + 1))
done
[[ -e "$builddir/libPluginKit.so" ]] && put 0644 "$builddir/libPluginKit.so" "$libdir/libPluginKit.so"
# The host's resources (the admin API's openapi.json) are looked up next to the executable.
for res in "$builddir"/*.resources; do
    [[ -d "$res" ]] || continue
    dest="$bindir/$(basename "$res")"
    rm -rf "$dest.tmp.$$" "$dest.old.$$"
    cp -R "$res" "$dest.tmp.$$"
    chmod -R u=rwX,go=rX "$dest.tmp.$$"
    [[ -e "$dest" ]] && mv "$dest" "$dest.old.$$"
    mv "$dest.tmp.$$" "$dest"
    rm -rf "$dest.old.$$"
done
echo "installed $bindir/darkspere and $count plugins in $libdir"

tmpd="$(mktemp -d)"
trap 'rm -rf "$tmpd"' EXIT
render "$repo/deploy/darkspere.yaml" > "$tmpd/plugins.yaml"
keep_or_new 0644 "$tmpd/plugins.yaml" "$confdir/plugins.yaml"
keep_or_new 0640 "$repo/deploy/darkspere.env" "$confdir/darkspere.env"
render "$repo/deploy/systemd/darkspere.service" > "$tmpd/darkspere.service"
put 0644 "$tmpd/darkspere.service" "$unitdir/darkspere.service"
echo "wrote $unitdir/darkspere.service"

install -d -m 0700 "$datadir"
if [[ $system == 1 ]]; then
    if ! getent passwd darkspere >/dev/null; then
        useradd --system --user-group --home-dir "$datadir" --no-create-home --shell /usr/sbin/nologin darkspere
        echo "created system user darkspere"
    fi
    chown darkspere:darkspere "$datadir"
    chown root:darkspere "$confdir/darkspere.env"
    [[ -e "$confdir/darkspere.env.new" ]] && chown root:darkspere "$confdir/darkspere.env.new"
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
        echo "next: edit $confdir/darkspere.env, then: systemctl enable --now darkspere"
    fi
fi
