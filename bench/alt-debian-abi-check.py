#!/usr/bin/python3
# Runs Debian's kernel ABI check (debian/bin/buildcheck.py, class CheckAbi, with
# debian_linux.abi.Symbols) on two Module.symvers files, as the linux package's build does
# against its debian/abi reference: the full report ("ABI has changed!", then every added,
# changed and removed symbol) and exit 1 when the ABI broke. The Debian code is fetched by
# bench/peer-debian-abi.js; this driver only supplies the file names and an empty config
# (no ignore-changes rules).
# Usage: alt-debian-abi-check.py DEBIAN_SRC REF NEW
import sys

src, ref, new = sys.argv[1:4]
sys.path.insert(0, f"{src}/debian/lib/python")
sys.path.insert(0, f"{src}/debian/bin")

import buildcheck  # noqa: E402


class Config(dict):
    """What CheckAbi reads of debian/config.defines.dump: an ABI name, no ignore rules."""

    def __getitem__(self, key):
        if key == ("version",):
            return {"abiname": "bench"}
        raise KeyError(key)

    def get(self, key, default=None):
        return default


check = buildcheck.CheckAbi(Config(), ".", "amd64", "none", "amd64")
check.filename_ref = ref
check.filename_new = new
sys.exit(check(sys.stdout))
