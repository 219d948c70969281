#!/bin/bash
# pgAdmin in server mode: config from PGADMIN_CONFIG_* (as the upstream image), the first login from
# PGADMIN_DEFAULT_EMAIL/PASSWORD, servers from /pgadmin4/servers.json on first start, then gunicorn on :80.
set -euo pipefail
: "${PGADMIN_DEFAULT_EMAIL:?PGADMIN_DEFAULT_EMAIL is not set}"
: "${PGADMIN_DEFAULT_PASSWORD:?PGADMIN_DEFAULT_PASSWORD is not set}"
web=$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"] + "/pgadmin4")')
config=/var/lib/pgadmin/config_system.py   # $web/config_local.py links here (see the Dockerfile)
{
  echo "SERVER_MODE = True"
  echo "DATA_DIR = '/var/lib/pgadmin'"
  echo "LOG_FILE = '/dev/null'"
  echo "SQLITE_PATH = '/var/lib/pgadmin/pgadmin4.db'"
  echo "SESSION_DB_PATH = '/var/lib/pgadmin/sessions'"
  echo "STORAGE_DIR = '/var/lib/pgadmin/storage'"
  echo "AZURE_CREDENTIAL_CACHE_DIR = '/var/lib/pgadmin/azurecredentialcache'"
  echo "KERBEROS_CCACHE_DIR = '/var/lib/pgadmin/kerberoscache'"
  echo "UPGRADE_CHECK_ENABLED = False"
  for var in $(compgen -e | grep '^PGADMIN_CONFIG_' || true); do
    echo "${var#PGADMIN_CONFIG_} = ${!var}"
  done
} > "$config"
if [ ! -f /var/lib/pgadmin/pgadmin4.db ]; then
  export PGADMIN_SETUP_EMAIL=$PGADMIN_DEFAULT_EMAIL PGADMIN_SETUP_PASSWORD=$PGADMIN_DEFAULT_PASSWORD
  python "$web/setup.py" setup-db
  if [ -f /pgadmin4/servers.json ]; then
    python "$web/setup.py" load-servers /pgadmin4/servers.json --user "$PGADMIN_DEFAULT_EMAIL"
  fi
fi
exec gunicorn --chdir "$web" --bind 0.0.0.0:80 --workers 1 --threads 8 --timeout 86400 \
  --access-logfile - pgAdmin4:app
