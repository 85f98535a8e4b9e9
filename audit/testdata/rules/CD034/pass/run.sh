#!/bin/sh
# a project directory, read-only
docker run --rm --cap-drop=ALL --tmpfs /var/cache/nginx nginx:1.27
