#!/bin/sh
# dkms PRE_BUILD step (runs in the build directory): produce the vendor object
# before kbuild links it. nvidia's package ships that object ready-made; here it
# comes from blob/ so the example stays reviewable.
set -eu
exec make -C blob
