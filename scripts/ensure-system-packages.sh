#!/usr/bin/env bash
# Installs the PostgreSQL and MariaDB server packages (and openssl, which makes the TLS sandbox's certificates,
# iproute2 and iptables for the network fault tests, and chromium for the report's browser test), with
# apt-get, only where they are missing.
# When that is not possible (no root, no sudo, no apt), it says which command to run and fails.
set -euo pipefail

packages=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v pg_dump >/dev/null \
  || packages+=(postgresql postgresql-client)
{ command -v mariadbd || command -v mysqld; } >/dev/null 2>&1 && command -v mariadb-install-db >/dev/null \
  && { command -v mariadb-dump || command -v mysqldump; } >/dev/null 2>&1 \
  || packages+=(mariadb-server mariadb-client)
command -v openssl >/dev/null || packages+=(openssl)
# The network fault tests (tests/reliability/netns.py) make a namespace, a veth pair and firewall rules of their own.
command -v ip >/dev/null || packages+=(iproute2)
command -v iptables >/dev/null || packages+=(iptables)
# The browser test of report.html (tests/integration/browser.py) opens it in Debian's headless chromium.
[ -x /usr/bin/chromium ] || packages+=(chromium)

[ ${#packages[@]} -eq 0 ] && exit 0

command="apt-get install -y ${packages[*]}"
if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  run=(sudo -n)
else
  echo "Missing system packages: ${packages[*]}" >&2
  echo "Install them with:  sudo $command" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "Missing system packages (${packages[*]}) and no apt-get on this machine." >&2
  echo "Install PostgreSQL (initdb, pg_dump), MariaDB (mariadbd, mariadb-install-db, mariadb-dump), openssl and chromium with your package manager." >&2
  exit 1
fi

echo "Installing ${packages[*]} with apt-get (one time)..."
export DEBIAN_FRONTEND=noninteractive
# A fresh image may have empty package lists: update once and retry.
if ! "${run[@]}" apt-get install -y -q "${packages[@]}" >/tmp/safeindex-apt.log 2>&1; then
  "${run[@]}" apt-get update -q >>/tmp/safeindex-apt.log 2>&1 || true
  if ! "${run[@]}" apt-get install -y -q "${packages[@]}" >>/tmp/safeindex-apt.log 2>&1; then
    tail -20 /tmp/safeindex-apt.log >&2
    echo "apt-get failed. Run it yourself:  sudo $command" >&2
    exit 1
  fi
fi
echo "Installed ${packages[*]}."
