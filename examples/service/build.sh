#!/usr/bin/env bash
# Builds the example service image (capdrop-example:latest) FROM scratch
# out of a static Go binary. Needs Go and a Docker engine.
set -euo pipefail
cd "$(dirname "$0")"
tag=${1:-capdrop-example:latest}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$work/service" .
cp Dockerfile "$work/"
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$work" >/dev/null
echo "$tag"
