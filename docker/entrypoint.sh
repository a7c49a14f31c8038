#!/bin/sh
# Entry point of giraffe's images, run by tini (PID 1, which forwards signals
# and reaps children). `docker run IMAGE serve|worker|generate|models …` runs
# that giraffe command; anything else (sh, node …) runs as given.
set -eu

case "${1:-serve}" in
  serve | worker | generate | models | help | --help | -h)
    for dir in "${DATA_DIR:-/data}" "${MODELS_DIR:-/models}"; do
      if [ -d "$dir" ] && [ ! -w "$dir" ]; then
        echo "giraffe: $dir is not writable by $(id -un) (uid $(id -u)); chown the volume or bind mount to uid $(id -u)" >&2
      fi
    done
    exec node /app/bin/giraffe.js "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
