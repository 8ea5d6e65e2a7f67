#!/bin/sh
# Installs what Preroll needs on a Debian or Raspberry Pi OS machine, then builds it.
# Safe to run again: every step checks first and only does what is missing.
#
#   deploy/setup.sh          Node.js (>= 20.19), ffmpeg, pnpm 10, dependencies, build
#   deploy/setup.sh --test   the same, plus what the test suite uses (Chromium, mosquitto, rclone, shellcheck, ...)
#
# Run it as your user (it calls sudo for system packages) or as root. Under `sudo`, the
# pnpm steps run as the user who called sudo, so the checkout stays theirs.
set -eu

TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) TEST=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif have sudo; then SUDO="sudo"; else
  echo "setup: run as root or install sudo" >&2; exit 1
fi
# Steps that write into the checkout run as its owner when we were started through sudo.
as_user() {
  if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
    sudo -u "$SUDO_USER" -H env PATH="$PATH" npm_config_nodedir="${npm_config_nodedir:-}" "$@"
  else
    "$@"
  fi
}

APT_UPDATED=0
apt_install() {
  missing=""
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
  [ -z "$missing" ] && return 0
  if [ "$APT_UPDATED" -eq 0 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
  say "installing$missing"
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
}

# Node.js >= 20.19 (Debian trixie and Raspberry Pi OS Trixie ship 20.19).
node_ok() {
  have node && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'
}
if ! have node; then apt_install nodejs; fi
if ! have npm; then apt_install npm; fi
if ! node_ok; then
  echo "setup: Node.js $(node --version 2>/dev/null || echo none) is too old; Preroll needs >= 20.19." >&2
  echo "       Use Debian trixie / Raspberry Pi OS Trixie, or install Node 20+ from NodeSource." >&2
  exit 1
fi

# ffmpeg decodes files, USB and network cameras, and encodes H.264.
if ! have ffmpeg || ! have ffprobe; then apt_install ffmpeg; fi

# Tools to compile native modules (better-sqlite3) when no prebuilt binary can be downloaded,
# against the system's Node headers (libnode-dev on Debian).
if ! have g++ || ! have make || ! have python3; then apt_install g++ make python3; fi
if [ ! -f /usr/include/node/node.h ] && [ ! -f /usr/local/include/node/node.h ]; then
  apt_install libnode-dev || say "no Node headers package; native modules must use prebuilt binaries"
fi
for dir in /usr /usr/local; do
  if [ -f "$dir/include/node/node.h" ]; then export npm_config_nodedir="$dir"; break; fi
done

# The Pi camera's programs, on a Raspberry Pi.
if grep -qi 'raspberry pi' /proc/device-tree/model 2>/dev/null && ! have rpicam-vid; then
  apt_install rpicam-apps-lite || apt_install rpicam-apps || say "rpicam-apps not available: the camera source needs it"
fi

if [ "$TEST" -eq 1 ]; then
  # Headless browser for the web UI tests; an MQTT broker and rclone for the integration tests;
  # openssl makes the TLS tests' certificates. The deployment tests lint the scripts (with
  # ShellCheck), verify the unit (systemd-analyze), the Samba share (testparm) and the reboot
  # rule (a real polkitd on a private D-Bus): only the Docker build may be skipped.
  have chromium || apt_install chromium
  have mosquitto || apt_install mosquitto
  have rclone || apt_install rclone
  have openssl || apt_install openssl
  have shellcheck || apt_install shellcheck
  have systemd-analyze || apt_install systemd
  have testparm || apt_install samba-common-bin
  if [ ! -x /usr/lib/polkit-1/polkitd ] || ! have pkcheck; then apt_install polkitd; fi
  have dbus-daemon || apt_install dbus-daemon
fi

# pnpm 10 (pnpm 11 needs Node 22).
if ! have pnpm || [ "$(pnpm --version 2>/dev/null | cut -d. -f1)" != "10" ]; then
  say "installing pnpm 10"
  $SUDO npm install -g --no-fund --no-audit pnpm@10 >/dev/null
  hash -r 2>/dev/null || true
fi

say "installing dependencies (frozen lockfile)"
as_user pnpm install --frozen-lockfile --reporter=append-only
# TypeScript needs about 300 MB of heap for the whole tree, more than Node gives by default on
# a 512 MB board (about 256 MB on a Pi Zero 2 W: "JavaScript heap out of memory"). The heap only
# grows as needed, so a higher cap costs nothing where memory is plenty.
build_heap=""
mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
swap_kb=$(awk '/^SwapTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
if [ "${mem_kb:-0}" -gt 0 ] && [ "$mem_kb" -lt 1572864 ]; then
  build_heap="--max-old-space-size=768"
  if [ $((mem_kb + ${swap_kb:-0})) -lt 921600 ]; then
    say "little memory ($((mem_kb / 1024)) MB + $((${swap_kb:-0} / 1024)) MB swap): the build needs about 400 MB; if it gets killed, enlarge the swap (docs/troubleshooting.md)"
  fi
fi
say "building"
as_user env NODE_OPTIONS="${NODE_OPTIONS:-} $build_heap" pnpm run build
say "ready: $(node --version), pnpm $(pnpm --version), $(ffmpeg -version | head -n 1 | cut -d' ' -f1-3)"
