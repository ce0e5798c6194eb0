#!/usr/bin/env bash
# Debian packages that the tests drive for real: headless Chromium opens the report; slurmctld,
# slurmd, slurm-client and munge make the single-node cluster of tests/system/slurm.sh.
# Idempotent: installs only what is missing. Without root or apt-get it says so and the tests
# that need a missing package skip, printing why.
set -euo pipefail
PACKAGES=(chromium slurmctld slurmd slurm-client munge)

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "tests/system/install.sh: cannot install ${missing[*]} (needs root and apt-get); tests using them will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" >/dev/null
