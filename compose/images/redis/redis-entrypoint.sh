#!/bin/sh
# `redis-server ARGS`: run as the redis user with protected mode off (as the upstream image does).
set -e
if [ "$1" = redis-server ]; then
  shift
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server "$@" --protected-mode no
fi
exec "$@"
