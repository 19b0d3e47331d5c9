#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the test suite and prints
# its URL. Installs the server from Debian's packages when it is missing.
#   scripts/postgres.sh start DIR   -> prints postgres://... on stdout
#   scripts/postgres.sh stop DIR
#   scripts/postgres.sh restart DIR [SECONDS]  -> an immediate (crash-like) stop,
#       SECONDS down (default 0), then the same data on the same port again
set -euo pipefail
cmd=${1:?start|stop|restart}
dir=${2:?data directory}

find_bin() {
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)

# Starts the server in $dir/data on $port; fails (and says why) if it does not come up.
pg_start() {
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=on" start >&2
}

if [ "$cmd" = stop ]; then
  bin=$(find_bin) || exit 0
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  exit 0
fi

if [ "$cmd" = restart ]; then
  bin=$(find_bin)
  port=$(cat "$dir/port") || { echo "postgres.sh: no server was started in $dir" >&2; exit 1; }
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >&2
  sleep "${3:-0}"
  pg_start || { tail -n 20 "$dir/server.log" >&2; exit 1; }
  echo "postgres://warden@127.0.0.1:$port/postgres"
  exit 0
fi

if ! bin=$(find_bin); then
  echo "postgres.sh: installing postgresql from Debian packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" != 0 ] && sudo_cmd=sudo
  $sudo_cmd apt-get update -qq >&2
  $sudo_cmd apt-get install -y -qq postgresql >&2
  bin=$(find_bin)
fi

rm -rf "$dir"
mkdir -p "$dir"
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$dir"
fi
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U warden --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
# A random port below the kernel's ephemeral range (outgoing connections take
# those), tried again on another port if something already listens there.
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
[ "$ephemeral_low" -gt 11000 ] 2>/dev/null || ephemeral_low=32768
for attempt in 1 2 3 4 5; do
  port=${WARDEN_TEST_PG_PORT:-$((10000 + RANDOM % (ephemeral_low - 10000)))}
  if pg_start; then
    break
  fi
  if [ -n "${WARDEN_TEST_PG_PORT:-}" ] || [ "$attempt" = 5 ] || ! grep -q 'Address already in use' "$dir/server.log"; then
    cat "$dir/server.log" >&2
    exit 1
  fi
  echo "postgres: port $port is taken, trying another" >&2
  : >"$dir/server.log"
done
echo "$port" >"$dir/port"
echo "postgres://warden@127.0.0.1:$port/postgres"
