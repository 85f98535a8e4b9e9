#!/bin/sh
# a project directory, read-only
docker run --rm --cap-drop=ALL -v "$PWD/nginx.conf":/etc/nginx/nginx.conf:ro nginx:1.27
