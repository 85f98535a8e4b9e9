#!/usr/bin/env bash
# Start a development container; extra docker options come from the caller.
set -euo pipefail
IMAGE="${IMAGE:-example/shop:dev}"
extra=("$@")
docker run --rm -it \
  --name shop-dev \
  "${extra[@]}" \
  -v "$PWD:/src" \
  "$IMAGE" bash
