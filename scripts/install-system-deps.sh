#!/usr/bin/env bash
# System packages the lab needs, installed with apt where we are root on Debian/Ubuntu.
#   pkg-config, libmariadb-dev, gcc     build mysqlclient and mariadb (MariaDB Connector/Python),
#                                       both against MariaDB Connector/C
#   mariadb-server-core, -client-core   mariadbd + mariadb-install-db for the local backend
#                                       (the binaries only: no system service is started)
#   nftables, iproute2, util-linux,     the kernel firewall the network scenarios put in a network
#   procps                              namespace of their own (nft, ip, unshare, nsenter, sysctl)
#   haproxy                             the load balancer of the HAProxy scenarios (the lab starts
#                                       its own on 127.0.0.1; on a machine with systemd, apt also
#                                       starts Debian's haproxy.service, which the lab leaves alone)
#   galera-4, rsync, mariadb-server     the cluster: three Galera nodes the lab starts on 127.0.0.1
#                                       (rsync moves a joiner's state; mariadb-server brings the
#                                       mysql user and wsrep_sst_rsync; on a machine with systemd
#                                       apt also starts mariadb.service, which the lab leaves alone)
#   --docker: also docker.io and debootstrap, for the tests of the docker backend
#                                       (a private engine and a stand-in image built from Debian)
#   --browser: chromium, for the browser tests (Playwright drives Debian's chromium)
# Anything else: prints the exact command and goes on (the lab says later what is missing).
set -euo pipefail

packages=(pkg-config libmariadb-dev gcc mariadb-server-core mariadb-client-core nftables iproute2 util-linux procps haproxy galera-4 rsync mariadb-server)
if [ "${1:-}" = "--docker" ]; then
  packages=(debootstrap)
  # an engine installed some other way (Docker's own packages) is fine: only add Debian's if none
  command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || packages+=(docker.io)
fi
[ "${1:-}" = "--browser" ] && packages=(chromium fonts-liberation)
# A Python without its headers (Debian's own python3) also needs python3-dev to build mysqlclient.
[ -n "${1:-}" ] || python3 -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || packages+=(python3-dev python3-venv)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "system packages: all present"; exit 0; }

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "system packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "system packages missing: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
  echo "(Docker users can skip mariadb-server-core; the lab then runs MariaDB with docker compose.)" >&2
fi
