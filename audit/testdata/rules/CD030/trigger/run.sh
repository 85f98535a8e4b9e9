#!/bin/sh
# the engine socket, read-only or not
docker run -d --name ci-runner -v /var/run/docker.sock:/var/run/docker.sock:ro gitlab/gitlab-runner:v17.0.0
