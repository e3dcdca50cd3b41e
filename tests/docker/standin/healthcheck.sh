#!/bin/sh
# Stand-in for the official image's healthcheck.sh (`--connect --innodb_initialized`):
# healthy once the server answers on its socket with InnoDB available.
exec mariadb --protocol=socket -uroot -N -e \
  "SELECT 1 FROM information_schema.ENGINES WHERE ENGINE = 'InnoDB' AND SUPPORT IN ('YES', 'DEFAULT')" >/dev/null
