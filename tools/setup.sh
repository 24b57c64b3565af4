#!/usr/bin/env bash
# Set-up shared by `make run` and `make test`: a virtual environment with the pinned
# requirements and, for the tests, the system tools the suite drives for real.
#
#   tools/setup.sh run     Python 3.11+, .venv, requirements.txt
#   tools/setup.sh test    the same with requirements-dev.txt, plus php-cli, php-curl,
#                          Node.js/npm and Stoplight Prism (tools/install-test-tools.sh), and
#                          Debian's Chromium for the delivery log's browser test (Playwright
#                          drives /usr/bin/chromium: `playwright install` downloads nothing),
#                          and Debian's nginx for the production web layout's test (the test
#                          starts its own, in the foreground; the system service is left off)
#
# As root (CI, a fresh server) missing Debian packages are installed with apt-get; as
# another user the script names what is missing and the command that installs it.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
PYTHON="${PYTHON:-python3}"
VENV=".venv"

say() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

apt_updated=""
need_debian_packages() {
    # $@: "check|package" pairs; installs (root) or names (others) the packages whose check fails.
    local missing=()
    for pair in "$@"; do
        local check="${pair%|*}" package="${pair##*|}"
        if ! eval "$check" >/dev/null 2>&1; then missing+=("$package"); fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if is_root && command -v apt-get >/dev/null; then
        say "installing Debian packages: ${missing[*]}"
        if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        die "missing: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
    fi
}

command -v "$PYTHON" >/dev/null || die "$PYTHON not found; install Python 3.11 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python 3.11 or newer is needed; $PYTHON is $("$PYTHON" --version 2>&1)"

if [ ! -x "$VENV/bin/python" ]; then
    # Debian splits venv (and ensurepip) into python3-venv.
    need_debian_packages "$PYTHON -c 'import ensurepip, venv'|python3-venv"
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

requirements="requirements.txt"
[ "$mode" = test ] && requirements="requirements-dev.txt"
stamp="$VENV/.installed-$(cat requirements.txt "$requirements" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    say "installing $requirements into $VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    touch "$stamp"
fi

if [ "$mode" = test ]; then
    need_debian_packages "command -v php|php-cli" "php -r 'exit(function_exists(\"curl_init\") ? 0 : 1);'|php-curl" \
        "command -v node|nodejs" "command -v npm|npm" "test -x /usr/bin/chromium|chromium"
    if ! test -x /usr/sbin/nginx; then
        need_debian_packages "test -x /usr/sbin/nginx|nginx"
        # Debian's package starts and enables the system nginx (port 80, the default site)
        # where systemd runs; the tests need only the program.
        if [ -d /run/systemd/system ]; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
    fi
    tools/install-test-tools.sh >/dev/null
fi
say "ready ($mode)"
