#!/usr/bin/env bash
# The Debian package as an operator gets it: built with cargo-deb from the
# release binary, installed with dpkg into an empty root (no chroot: the
# maintainer scripts act on it through DPKG_ROOT), its account, folders and
# configuration checked, its unit verified by systemd-analyze, then the
# installed binary run as the installed account on the installed
# configuration: `migrate`, then `serve` until /readyz answers 200, then
# SIGTERM and a clean stop.
#
# Needs root, cargo-deb (`cargo install cargo-deb --locked`, as .ci/run
# does), dpkg, systemd (systemd-analyze), curl and python3. Run from
# anywhere: packaging/check-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf -- '--- %s\n' "$*"; }
fail() {
  printf 'check-deb: %s\n' "$*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || fail "run as root: dpkg installs into the test root and the service runs as its account"
command -v cargo-deb >/dev/null || fail "cargo-deb is missing: cargo install cargo-deb --locked"

tree=$(mktemp -d -t guichet-deb.XXXXXX)
serve_pid=""
cleanup() {
  if [[ -n $serve_pid ]]; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  rm -rf "$tree"
}
trap cleanup EXIT
# The service's account must reach the files below it.
chmod 755 "$tree"

step "build the package"
# Nothing to do when the release binary is up to date (.ci/run has just
# built it).
cargo build --release
deb=$(cargo deb --no-build --output target/debian/)
[[ -f $deb ]] || fail "cargo deb made no package (said: $deb)"
echo "$deb"

step "install into an empty root: $tree"
mkdir -p "$tree/etc" "$tree"/var/lib/dpkg/{info,updates,triggers}
touch "$tree/var/lib/dpkg/status"
# The root has none of the packages it depends on (libc, libssl, libpq,
# systemd): dpkg says so and goes on; this machine's serve the binary.
dpkg --root="$tree" --log="$tree/dpkg.log" --force-script-chrootless --force-depends -i "$deb"
status=$(dpkg-query --root="$tree" -W -f='${Status}' guichet)
[[ $status == "install ok installed" ]] || fail "package status: $status"
dpkg-query --root="$tree" -W -f='${Conffiles}\n' guichet | grep -q '^ /etc/guichet/guichet.toml ' ||
  fail "/etc/guichet/guichet.toml is not a conffile"

step "account, folders and configuration made by postinst"
IFS=: read -r _ _ uid gid _ home shell < <(grep '^guichet:' "$tree/etc/passwd") || fail "no guichet account in /etc/passwd"
[[ $home == /var/lib/guichet && $shell == */nologin ]] || fail "guichet's home and shell: $home $shell"
(( uid != 0 && gid != 0 )) || fail "guichet has uid $uid, gid $gid"
expect_stat() { # PATH "MODE UID GID"
  local got
  got=$(stat -c '%a %u %g' "$tree$1")
  [[ $got == "$2" ]] || fail "$1 is $got (mode uid gid), not $2"
}
expect_stat /var/lib/guichet "700 $uid $gid"
expect_stat /etc/guichet/guichet.toml "640 0 $gid"
expect_stat /usr/bin/guichet "755 0 0"
unit=/usr/lib/systemd/system/guichet.service
[[ -f $tree$unit ]] || fail "$unit is not installed"
[[ ! -e $tree/etc/systemd/system/multi-user.target.wants/guichet.service ]] ||
  fail "guichet.service was enabled before being configured"
echo "guichet: uid $uid, gid $gid; /var/lib/guichet 0700; guichet.toml 0640 root:guichet"

step "systemd-analyze verify $unit"
# The units it depends on (sysinit.target…) come with systemd, which the
# empty root lacks: this machine's are copied in, the package's own unit
# left as installed. A unit systemd reads with a warning (an unknown key, a
# value it ignores) fails here too.
cp -an /usr/lib/systemd/system/. "$tree/usr/lib/systemd/system/"
if ! verify=$(systemd-analyze verify --root="$tree" guichet.service 2>&1) || [[ -n $verify ]]; then
  fail "systemd-analyze verify: ${verify:-failed}"
fi
# The exposure systemd rates it at, 0 (locked down) to 10 (unprotected):
# above 1.5 is a hardening lost.
systemd-analyze security --offline=true --root="$tree" guichet.service | tail -n 1
systemd-analyze security --offline=true --threshold=15 --root="$tree" guichet.service >/dev/null ||
  fail "guichet.service's exposure rose above 1.5: systemd-analyze security --offline=true $unit"

step "the installed binary, as guichet, on the installed configuration"
# What the unit gives it: the account and no other group, UMask=0077, / as
# working directory; nothing of this shell's GUICHET_* settings.
for name in $(compgen -e); do
  [[ $name == GUICHET* ]] && unset "$name"
done
conf="$tree/etc/guichet/guichet.toml"
as_guichet=(setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$tree/usr/bin/guichet" --config "$conf")
as_unit() (cd / && umask 077 && exec "${as_guichet[@]}" "$@")
# The configuration as shipped: read, nothing written.
as_unit tenants list >/dev/null || fail "the shipped configuration is refused"
# Then the data folder and the port moved into the test root.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data="$tree/var/lib/guichet"
export GUICHET__DATABASE__URL="sqlite://$data/guichet.db" GUICHET__STORAGE__DATA_DIR="$data" \
  GUICHET__SERVER__BIND="127.0.0.1:$port" GUICHET__SERVER__PUBLIC_URL="http://127.0.0.1:$port"
as_unit migrate
expect_stat /var/lib/guichet/guichet.db "600 $uid $gid"

# Started so that its process is the one signalled.
(cd / && umask 077 && exec "${as_guichet[@]}" serve) >"$tree/serve.log" 2>&1 &
serve_pid=$!
ready=""
for _ in $(seq 1 240); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.25
done
if [[ -z $ready ]]; then
  cat "$tree/serve.log" >&2
  fail "guichet serve did not answer /readyz on 127.0.0.1:$port"
fi
echo "/readyz 200 on 127.0.0.1:$port"
kill -TERM "$serve_pid"
code=0
wait "$serve_pid" || code=$?
serve_pid=""
if ((code != 0)) || ! grep -q 'stopped' "$tree/serve.log"; then
  cat "$tree/serve.log" >&2
  fail "guichet serve did not stop cleanly on SIGTERM (exit $code)"
fi
expect_stat /var/lib/guichet/secrets.toml "600 $uid $gid"
echo "serve: ready, then stopped on SIGTERM; secrets.toml 0600 guichet"
step "package checked: $deb"
