#!/usr/bin/env bash
# Installs the system binaries the tests use, when missing and when we are allowed to (root + apt).
# Tests that need a missing binary fail with a one-line install hint instead.
set -uo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || need+=(chromium)
# The producer tests (test/events/producers-*) run Ruby, Python and Go programs against Larder.
command -v ruby >/dev/null || need+=(ruby)
ruby -e 'require "redis"' >/dev/null 2>&1 || need+=(ruby-redis)
# Debian's python3-redis is importable by /usr/bin/python3 (a python3 earlier on PATH may be another one).
python3 -c 'import redis' >/dev/null 2>&1 || /usr/bin/python3 -c 'import redis' >/dev/null 2>&1 || need+=(python3-redis)
command -v go >/dev/null || need+=(golang-go)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need+=(postgresql); fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need[*]}"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || echo "setup: could not install ${need[*]}; tests that need them will say so"
  else
    echo "setup: missing ${need[*]} (install with: apt-get install ${need[*]})"
  fi
fi
exit 0
