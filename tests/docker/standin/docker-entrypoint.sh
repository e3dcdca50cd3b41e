#!/bin/bash
# Entrypoint of the lab's stand-in for the official mariadb image (tests only: no registry
# is reachable from the test machines). It honours what compose.yaml passes the official image:
#   MARIADB_ROOT_PASSWORD, MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD, and mariadbd flags
#   as the command (e.g. --port=3307). Accounts are (re)applied at every start by an init file.
set -euo pipefail

if [ "${1:0:1}" = "-" ]; then
  set -- mariadbd "$@"
fi
if [ "$1" != "mariadbd" ]; then
  exec "$@"
fi
shift

datadir=/var/lib/mysql
mkdir -p "$datadir" /run/mysqld
chown -R mysql:mysql "$datadir" /run/mysqld
if [ ! -d "$datadir/mysql" ]; then
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
fi

init=/run/mysqld/lab-init.sql
{
  echo "CREATE OR REPLACE USER 'root'@'%' IDENTIFIED BY '${MARIADB_ROOT_PASSWORD:?MARIADB_ROOT_PASSWORD is required}';"
  echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
  if [ -n "${MARIADB_DATABASE:-}" ]; then
    echo "CREATE DATABASE IF NOT EXISTS \`${MARIADB_DATABASE}\`;"
  fi
  if [ -n "${MARIADB_USER:-}" ]; then
    echo "CREATE OR REPLACE USER '${MARIADB_USER}'@'%' IDENTIFIED BY '${MARIADB_PASSWORD:-}';"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
      echo "GRANT ALL ON \`${MARIADB_DATABASE}\`.* TO '${MARIADB_USER}'@'%';"
    fi
  fi
} >"$init"
chown mysql:mysql "$init"

exec mariadbd --user=mysql --init-file="$init" "$@"
