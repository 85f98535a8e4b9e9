#!/bin/sh
# the host's network
docker run -d --network=frontend -p 80:80 --cap-drop=ALL --cap-add=NET_BIND_SERVICE nginx:1.27
