#!/usr/bin/env bash
# First start of the compose PostgreSQL: the inspector app's own database and owner.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$INSPECTOR_DB_PASSWORD" <<'SQL'
CREATE ROLE inspector LOGIN PASSWORD :'password';
CREATE DATABASE inspector OWNER inspector;
SQL
