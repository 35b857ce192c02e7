#!/usr/bin/env bash
# Install the packages tracelink needs, build it and install it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
tl_install_packages
tl_build_install
