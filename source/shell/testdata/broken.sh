#!/bin/bash
docker run --cap-add KILL ok
echo "$(
foo $(bar
docker run --privileged after
