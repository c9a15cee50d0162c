#!/bin/sh
# prebuildify calls this in place of node-gyp (`--node-gyp`), with node-gyp's arguments
# (rebuild --target=... --release ...): the addon is a cmake-js project, so build it with
# cmake-js from a clean build/ instead. The .node lands in build/Release, where prebuildify looks.
set -e
exec npx --no-install cmake-js rebuild
