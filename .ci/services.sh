#!/usr/bin/env bash
# Install and start what the platform's tests need beyond pip: a PostgreSQL server and Debian's
# Chromium (driven by Playwright). Idempotent; prints the PostgreSQL URL for the tests as
#   CASIP_TEST_POSTGRES_URL=postgresql+psycopg://casip:casip@127.0.0.1:5432/casip_test
# Needs root (CI and the development machines run as root). Source it or read its last line.
set -euo pipefail

need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi

version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
    pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
    pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 30); do
    su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1 && break
    sleep 1
done
su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='casip'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"create role casip login createdb password 'casip'\""
su postgres -c "psql -qtAc \"select 1 from pg_database where datname='casip_test'\"" | grep -q 1 ||
    su postgres -c "createdb -O casip casip_test"
echo "CASIP_TEST_POSTGRES_URL=postgresql+psycopg://casip:casip@127.0.0.1:5432/casip_test"
