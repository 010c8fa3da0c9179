# pg_cluster.sh: a private, throwaway PostgreSQL cluster for integration tests.
#
# Source it, then:  pg_cluster_start DIR   -> exports PG_URL (libpq URI), PG_PORT, PG_SOCKDIR
#                   pg_cluster_restart     -> restarts it (connections drop, data stays)
#                   pg_cluster_stop        -> stops the server and removes DIR
# initdb refuses to run as root, so as root the cluster belongs to the
# `postgres` user (created by Debian's postgresql package). The server listens
# on 127.0.0.1 on a free port and on a socket in DIR; nothing else is touched.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

pg_cluster__as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_cluster__free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pg_cluster_start() {
  PG_DIR=$1
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    echo "pg_cluster: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    return 1
  fi
  mkdir -p "$PG_DIR"
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
  PG_SOCKDIR=$PG_DIR
  pg_cluster__as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync \
    -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  local try
  for try in 1 2 3; do
    PG_PORT=$(pg_cluster__free_port)
    if pg_cluster__as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
         -o "-p $PG_PORT -k $PG_SOCKDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" \
         start >/dev/null; then
      export PG_PORT PG_SOCKDIR PG_DIR
      export PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
      return 0
    fi
  done
  cat "$PG_DIR/server.log" >&2
  return 1
}

pg_cluster_restart() { # same port and data: clients see their connections drop
  pg_cluster__as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 restart >/dev/null
}

pg_cluster_stop() {
  [ -n "${PG_DIR:-}" ] || return 0
  if [ -d "$PG_DIR/data" ]; then
    pg_cluster__as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
  PG_DIR=
}
