#!/bin/sh
# First start on an empty data folder: initdb with POSTGRES_USER as the superuser and
# POSTGRES_PASSWORD as its password, then POSTGRES_DB; every later start finds the
# cluster and leaves it as it is. Then the server, as the postgres user, as PID 1.
set -eu

if [ "$(id -u)" = 0 ]; then
    # A new named volume may belong to root: hand it to postgres, then drop root.
    mkdir -p "$PGDATA" /run/postgresql
    chown postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set (the superuser password)}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    # Local (socket) connections are trusted as in the official image; over TCP every
    # client gives the password.
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 \
        --no-locale --auth-local=trust --auth-host=scram-sha-256 > /dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
        quoted=$(printf '%s' "$db" | sed 's/"/""/g')
        printf 'CREATE DATABASE "%s";\n' "$quoted" \
            | postgres --single -D "$PGDATA" -c exit_on_error=on postgres > /dev/null
    fi
    echo "postgres-entrypoint: created the cluster, superuser $user, database $db"
fi

if [ "${1:-}" = postgres ]; then
    shift
    exec postgres -D "$PGDATA" "$@"
fi
exec "$@"
