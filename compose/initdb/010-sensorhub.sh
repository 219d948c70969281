#!/usr/bin/env bash
# Runs once, when the timescaledb volume is empty (the image's entrypoint calls every
# script in /docker-entrypoint-initdb.d after its own 000_/001_ TimescaleDB scripts).
#
#   sensorhub       owns the application database; the service and `sensorhub migrate` log in as it
#   grafana_reader  read-only, for Grafana's PostgreSQL data source (per-device reading charts)
#
# The extension is created here, by the superuser, because `timescaledb` is not a trusted
# extension: the application role could not create it, and its migration then finds it present.
# Passwords go through psql variables (:'name'), never through the shell into SQL text.
set -euo pipefail

: "${APP_DB_PASSWORD:?APP_DB_PASSWORD is not set (compose/.env)}"
: "${GRAFANA_DB_PASSWORD:?GRAFANA_DB_PASSWORD is not set (compose/.env)}"

psql=(psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --no-password)

"${psql[@]}" --dbname postgres \
  -v app_password="$APP_DB_PASSWORD" -v grafana_password="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE sensorhub LOGIN PASSWORD :'app_password';
CREATE ROLE grafana_reader LOGIN PASSWORD :'grafana_password' CONNECTION LIMIT 10;
ALTER ROLE grafana_reader SET default_transaction_read_only = on;
ALTER ROLE grafana_reader SET statement_timeout = '30s';
-- The service reads shared_preload_libraries to detect TimescaleDB (sensorhub.timeseries.engines).
GRANT pg_read_all_settings TO sensorhub;
CREATE DATABASE sensorhub OWNER sensorhub;
REVOKE ALL ON DATABASE sensorhub FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE sensorhub TO sensorhub;
GRANT CONNECT ON DATABASE sensorhub TO grafana_reader;
SQL

"${psql[@]}" --dbname sensorhub <<'SQL'
CREATE EXTENSION IF NOT EXISTS timescaledb;
GRANT USAGE ON SCHEMA public TO grafana_reader;
-- Tables the migrations create later (as sensorhub) become readable by Grafana.
ALTER DEFAULT PRIVILEGES FOR ROLE sensorhub IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
SQL

echo "sensorhub: database 'sensorhub', roles 'sensorhub' and 'grafana_reader' created"
