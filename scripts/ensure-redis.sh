#!/usr/bin/env bash
# Start a local redis-server for the test suite unless one already answers.
# CI and fresh machines may not have it running; installs it from Debian if missing.
set -euo pipefail
port="${REDIS_PORT:-6379}"
if command -v redis-cli >/dev/null 2>&1 && redis-cli -p "$port" ping >/dev/null 2>&1; then
  exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found: installing it (apt-get)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq redis-server >/dev/null; fi
fi
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
  --dir /tmp --logfile /tmp/proxyapi-test-redis.log
for _ in $(seq 1 50); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && exit 0
  sleep 0.1
done
echo "redis-server did not start on port $port (see /tmp/proxyapi-test-redis.log)" >&2
exit 1
