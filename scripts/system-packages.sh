#!/usr/bin/env bash
# The Debian packages `make demo` / `make test` need, installed when missing (as root), or named
# with the command that installs them (as anyone else). Usage: scripts/system-packages.sh demo|test
#   demo: the local task runner (root, util-linux's setpriv, iproute2, a C compiler for the
#         stand-in's shim) and MariaDB's server binaries (the sidecar's stand-in, and the
#         throw-away server of the tests and of the plain-process demo); python3-venv for ./venv.
#   test: the same, plus Node.js and npm (asl-validator, installed by `npm ci`).
set -euo pipefail
want=${1:?usage: $0 demo|test}
python=${PYTHON:-python3}

missing=()
"$python" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
command -v ip >/dev/null || missing+=(iproute2)
command -v setpriv >/dev/null || missing+=(util-linux)
if ! [ -x /usr/sbin/mariadbd ] || ! command -v mariadb-install-db >/dev/null; then
  missing+=(mariadb-server)
fi
if [ "$want" = test ]; then
  command -v npm >/dev/null || missing+=(nodejs npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing the Debian packages make $want needs: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian starts the packaged server on install; the tests and the demo do not use it.
  exit 0
fi
echo "make $want needs these Debian packages: ${missing[*]}" >&2
echo "install them (as root): apt-get install -y ${missing[*]}" >&2
exit 1
