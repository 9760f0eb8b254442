#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the store tests (tests/store.rs).
#
#   scripts/pg-test-server.sh          start it (or find it running) and print its URL:
#                                      postgres://madoguchi@127.0.0.1:PORT/madoguchi
#   scripts/pg-test-server.sh stop     stop it (the data stays for a fast restart)
#   scripts/pg-test-server.sh clean    stop it and delete its data
#   scripts/pg-test-server.sh status   print the URL if it runs, else exit 1
#
# Typical use:  MADOGUCHI_TEST_POSTGRES_URL=$(scripts/pg-test-server.sh) cargo test
#
# Installs PostgreSQL from the Debian packages when no server binaries are found (needs root or
# passwordless sudo; binaries live in /usr/lib/postgresql/*/bin). The server never runs as root:
# as root, it runs as the `postgres` user (created if missing). It listens on 127.0.0.1 only, with
# trust authentication and fsync off: for tests, never for data you keep.
#
# Environment:
#   PGPORT             the port to use (default: a free one, remembered between starts)
#   MADOGUCHI_PG_DIR   where the data, socket and log live (default: /tmp/madoguchi-pg-<uid>)
#
# Only the URL goes to stdout; progress and errors go to stderr.
set -euo pipefail

DB_USER=madoguchi
DB_NAME=madoguchi
DIR=${MADOGUCHI_PG_DIR:-/tmp/madoguchi-pg-$(id -u)}
DATA=$DIR/data
LOG=$DIR/server.log
PORT_FILE=$DIR/port
RUN_AS=""

say() { echo "pg-test-server: $*" >&2; }
die() { say "error: $*"; exit 1; }

# The directory holding pg_ctl, initdb and postgres, newest major version first; empty if none.
find_bin() {
    local candidates=() dir
    if command -v pg_ctl >/dev/null 2>&1; then
        candidates+=("$(dirname "$(readlink -f "$(command -v pg_ctl)")")")
    fi
    while IFS= read -r dir; do
        candidates+=("$dir")
    done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r)
    for dir in "${candidates[@]}"; do
        if [[ -x $dir/pg_ctl && -x $dir/initdb && -x $dir/postgres ]]; then
            echo "$dir"
            return
        fi
    done
}

install_postgres() {
    "$(dirname "$0")/debian-install.sh" postgresql postgresql-client \
        || die "PostgreSQL is missing and could not be installed"
}

# Runs a command as the server's (non-root) user, from a directory that user can read.
as_pg() {
    if [[ -n $RUN_AS ]]; then
        (cd / && runuser -u "$RUN_AS" -- "$@")
    else
        "$@"
    fi
}

setup_user() {
    [[ $EUID -eq 0 ]] || return 0
    RUN_AS=postgres
    if ! id -u "$RUN_AS" >/dev/null 2>&1; then
        say "creating the system user $RUN_AS"
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
            "$RUN_AS"
    fi
}

running() {
    [[ -f $DATA/PG_VERSION ]] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

url() {
    echo "postgres://$DB_USER@127.0.0.1:$(cat "$PORT_FILE")/$DB_NAME"
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 40000))
        port_in_use "$port" || { echo "$port"; return; }
    done
    die "no free port found"
}

psql_q() {
    as_pg "$PSQL" -X -q -h 127.0.0.1 -p "$(cat "$PORT_FILE")" -U "$DB_USER" -d postgres -tAc "$1"
}

ensure_database() {
    if [[ -z $(psql_q "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") ]]; then
        psql_q "CREATE DATABASE $DB_NAME" >/dev/null
    fi
}

start() {
    mkdir -p "$DIR"
    [[ -n $RUN_AS ]] && chown "$RUN_AS" "$DIR"
    chmod 700 "$DIR"
    if running && [[ -f $PORT_FILE ]]; then
        ensure_database
        url
        return
    fi
    local version
    version=$("$BIN/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')
    if [[ -f $DATA/PG_VERSION && $(cat "$DATA/PG_VERSION") != "$version" ]]; then
        say "data from PostgreSQL $(cat "$DATA/PG_VERSION") found; starting afresh for $version"
        rm -rf "$DATA"
    fi
    if [[ ! -f $DATA/PG_VERSION ]]; then
        say "initdb $DATA (PostgreSQL $version)"
        as_pg "$BIN/initdb" -D "$DATA" -U "$DB_USER" --auth=trust --no-locale -E UTF8 --no-sync \
            >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    local port attempts=5
    [[ -n ${PGPORT:-} ]] && attempts=1
    for _ in $(seq 1 "$attempts"); do
        if [[ -n ${PGPORT:-} ]]; then
            port=$PGPORT
        elif [[ -f $PORT_FILE ]] && ! port_in_use "$(cat "$PORT_FILE")"; then
            port=$(cat "$PORT_FILE")
        else
            port=$(pick_port)
        fi
        if as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 30 -o "-c listen_addresses=127.0.0.1 \
            -p $port -c unix_socket_directories='$DIR' -c fsync=off -c synchronous_commit=off \
            -c full_page_writes=off -c max_connections=300" start >/dev/null 2>&1; then
            echo "$port" >"$PORT_FILE"
            say "started on 127.0.0.1:$port (log: $LOG)"
            ensure_database
            url
            return
        fi
        say "could not start on port $port"
        rm -f "$PORT_FILE"
    done
    tail -n 20 "$LOG" >&2 2>/dev/null || true
    die "PostgreSQL did not start"
}

stop() {
    if running; then
        as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        say "stopped"
    fi
}

main() {
    local cmd=${1:-start}
    case $cmd in
        start | stop | clean | status) ;;
        *) die "usage: $0 [start|stop|clean|status]" ;;
    esac
    BIN=$(find_bin)
    if [[ -z $BIN ]]; then
        [[ $cmd == start ]] || die "PostgreSQL is not installed"
        install_postgres
        BIN=$(find_bin)
        [[ -n $BIN ]] || die "no pg_ctl/initdb after installing (in /usr/lib/postgresql/*/bin)"
    fi
    PSQL=$BIN/psql
    [[ -x $PSQL ]] || PSQL=$(command -v psql) || die "psql not found (install postgresql-client)"
    setup_user
    case $cmd in
        start) start ;;
        stop) stop ;;
        clean) stop; rm -rf "$DIR"; say "deleted $DIR" ;;
        status) running && [[ -f $PORT_FILE ]] && url ;;
    esac
}

main "$@"
