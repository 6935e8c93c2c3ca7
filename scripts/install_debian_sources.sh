#!/usr/bin/env bash
# Install the Debian packages behind the opt-in `data.debian_sources` (see shared/DATA.md).
#   scripts/install_debian_sources.sh                   # every source
#   scripts/install_debian_sources.sh tuxpaint flags    # only these
# Sources: tuxpaint openclipart fashion-mnist flags playing-cards
set -euo pipefail

packages_for() {
    case "$1" in
        tuxpaint) echo tuxpaint-stamps-default ;;
        openclipart | playing-cards) echo openclipart-svg ;;
        fashion-mnist) echo dataset-fashion-mnist ;;
        flags) echo iso-flags-png-320x240 iso-codes ;;
        *)
            echo "unknown source '$1' (known: tuxpaint openclipart fashion-mnist flags playing-cards)" >&2
            return 1
            ;;
    esac
}

sources=("$@")
if [ ${#sources[@]} -eq 0 ]; then
    sources=(tuxpaint openclipart fashion-mnist flags playing-cards)
fi

wanted=()
for source in "${sources[@]}"; do
    # a plain assignment, so that set -e stops on an unknown source (a `for ... in $(...)` would not)
    packages=$(packages_for "$source")
    for package in $packages; do
        wanted+=("$package")
    done
done

missing=()
for package in $(printf '%s\n' "${wanted[@]}" | sort -u); do
    # dpkg-query reports "install ok installed" only for a fully installed package
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$package")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "already installed: $(printf '%s ' "${wanted[@]}" | xargs -n1 | sort -u | xargs)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}" >&2
    echo "this script needs root to install them: sudo $0 $*" >&2
    echo "(or: sudo apt-get install -y --no-install-recommends ${missing[*]})" >&2
    exit 1
fi

echo "installing: ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
