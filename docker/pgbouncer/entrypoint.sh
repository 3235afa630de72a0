#!/bin/sh
# Writes /etc/pgbouncer/pgbouncer.ini from the environment, then runs pgbouncer as PID 1.
#   DB_HOST, DB_PORT (5432): the PostgreSQL server
#   DB_USER, DB_PASSWORD: the one account clients log in as (and PgBouncer, to the server)
#   POOL_SIZE (10): server connections per database and user, whatever the client count
#   MAX_CLIENTS (2000): client connections (a tuner worker holds 1, at most 4)
# DB_USER may also read PgBouncer's SHOW commands (SHOW POOLS, SHOW SERVERS: how many
# server connections the workers share) in its admin database `pgbouncer`.
# Transaction mode: a client holds a server connection only for one transaction. tuner
# keeps no session state across transactions (its locks are row locks of a transaction),
# so every worker feature holds through it.
set -eu
: "${DB_HOST:?DB_HOST must be set (the PostgreSQL server)}"
: "${DB_USER:?DB_USER must be set}"
: "${DB_PASSWORD:?DB_PASSWORD must be set}"
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
umask 077
printf '%s %s\n' "$(quote "$DB_USER")" "$(quote "$DB_PASSWORD")" > /etc/pgbouncer/userlist.txt
cat > /etc/pgbouncer/pgbouncer.ini <<INI
[databases]
* = host=${DB_HOST} port=${DB_PORT:-5432}

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = /etc/pgbouncer/userlist.txt
pool_mode = transaction
default_pool_size = ${POOL_SIZE:-10}
max_db_connections = ${POOL_SIZE:-10}
max_client_conn = ${MAX_CLIENTS:-2000}
stats_users = ${DB_USER}
logfile =
pidfile =
INI
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
