#!/bin/sh
# Installs Preroll as a service that starts at boot, on Raspberry Pi OS (Bookworm or Trixie,
# 64-bit; Pi Zero 2 W, 3, 4, 5) or Debian. Safe to run again: it is also how you update.
#
#   sudo deploy/install.sh                        install, or update after `git pull`
#   sudo deploy/install.sh --uninstall            remove the service (keeps config and recordings)
#   sudo deploy/install.sh --uninstall --purge    also delete recordings, config and the user
#   deploy/install.sh --dry-run [...]             print what would be done; change nothing
#   deploy/install.sh --root DIR [...]            write the files under DIR (a mounted image, a
#                                                 test) instead of /; skips packages, build,
#                                                 user and systemd, which act on this machine
#
# What it does: Node.js (>= 20.19), ffmpeg, rpicam-apps (on a Pi), pnpm 10 and the build, all by
# deploy/setup.sh run as the owner of this checkout; polkitd; a `preroll` system user in the
# groups video (and render, gpio where they exist); /var/lib/preroll (recordings); /etc/preroll/config.json and
# /etc/preroll/env (never overwritten); a polkit rule that lets the service reboot the machine;
# /usr/local/bin/preroll (the command line, run as the service's user); the systemd unit
# preroll.service, enabled and (re)started. See docs/install-raspberry-pi.md.
set -eu

ARGS="$*"
DRY=0
UNINSTALL=0
PURGE=0
ROOT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    --root)
      [ $# -ge 2 ] || { echo "install: --root needs a directory" >&2; exit 2; }
      ROOT=$2
      shift
      ;;
    --root=*) ROOT=${1#--root=} ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "install: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$PURGE" -eq 1 ] && [ "$UNINSTALL" -eq 0 ]; then
  echo "install: --purge goes with --uninstall" >&2; exit 2
fi
if [ -n "$ROOT" ]; then
  case "$ROOT" in /*) ;; *) ROOT=$(pwd -P)/$ROOT ;; esac
  ROOT=${ROOT%/}
fi

APP_DIR=$(cd "$(dirname "$0")/.." && pwd -P)
SERVICE_USER=preroll
# Paths on the target system (written into files) and where this run writes them ($ROOT).
DATA=/var/lib/preroll
ETC=/etc/preroll
CONFIG=$ETC/config.json
ENV_FILE=$ETC/env
UNIT=/etc/systemd/system/preroll.service
POLKIT_RULE=/etc/polkit-1/rules.d/50-preroll-reboot.rules
WRAPPER=/usr/local/bin/preroll
CLI=$APP_DIR/apps/server/dist/src/cli.js

say() { printf 'install: %s\n' "$*"; }
fail() { printf 'install: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
# Steps that act on this machine (packages, users, systemd) are skipped when staging under --root.
staging() { [ -n "$ROOT" ]; }
# Runs a command, or says what it would run.
run() {
  if [ "$DRY" -eq 1 ]; then say "would run: $*"; return 0; fi
  say "running: $*"
  "$@"
}

if [ "$DRY" -eq 0 ] && ! staging && [ "$(id -u)" -ne 0 ]; then
  fail "run it as root: sudo $0 $ARGS"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

# Installs the file $1 (already generated) at $ROOT$2 with mode $3 and owner $4 (user:group).
# $5 = keep: an existing file is the user's and stays as it is; replace: ours, kept up to date.
# Sets CHANGED=1 when something was (or would be) written.
CHANGED=0
put_file() {
  src=$1 dest=$ROOT$2 mode=$3 owner=$4 policy=$5
  if [ -e "$dest" ]; then
    if cmp -s "$src" "$dest"; then say "ok $dest (unchanged)"; return 0; fi
    if [ "$policy" = keep ]; then say "kept $dest (exists; not overwritten)"; return 0; fi
    verb=update done=updated
  else
    verb=write done=wrote
  fi
  CHANGED=1
  if [ "$DRY" -eq 1 ]; then say "would $verb $dest (mode $mode)"; return 0; fi
  mkdir -p "$(dirname "$dest")"
  # Written beside the target and renamed: a reader never sees half a file.
  cp "$src" "$dest.preroll-new"
  chmod "$mode" "$dest.preroll-new"
  if ! staging; then chown "$owner" "$dest.preroll-new"; fi
  mv -f "$dest.preroll-new" "$dest"
  say "$done $dest"
}

# Makes the directory $ROOT$1 with mode $2 and owner $3.
put_dir() {
  dir=$ROOT$1 mode=$2 owner=$3
  if [ -d "$dir" ]; then
    # Staged files get their owner on the target machine; here only the mode is ours to check.
    want="$owner ${mode#0}" got="$(stat -c '%U:%G %a' "$dir")"
    if staging; then want=${mode#0} got=$(stat -c %a "$dir"); fi
    if [ "$got" = "$want" ]; then say "ok $dir"; return 0; fi
    verb=fix done=fixed
  else
    verb=create done=created
  fi
  if [ "$DRY" -eq 1 ]; then say "would $verb $dir (mode $mode, owner $owner)"; return 0; fi
  mkdir -p "$dir"
  chmod "$mode" "$dir"
  if ! staging; then chown "$owner" "$dir"; fi
  say "$done $dir"
}

remove() {
  target=$ROOT$1
  if [ ! -e "$target" ]; then say "ok $target (absent)"; return 0; fi
  if [ "$DRY" -eq 1 ]; then say "would remove $target"; return 0; fi
  rm -rf "$target"
  say "removed $target"
}

systemd_running() { ! staging && [ -d /run/systemd/system ]; }

# ---------------------------------------------------------------------------------------------
if [ "$UNINSTALL" -eq 1 ]; then
  if systemd_running && systemctl cat preroll.service >/dev/null 2>&1; then
    run systemctl disable --now preroll.service
  elif staging; then
    say "skip systemctl disable --now preroll (--root)"
  fi
  remove "$UNIT"
  if systemd_running; then run systemctl daemon-reload; fi
  remove "$POLKIT_RULE"
  remove "$WRAPPER"
  if [ "$PURGE" -eq 1 ]; then
    if [ -d "$ROOT$DATA" ]; then
      say "deleting every recording: $(find "$ROOT$DATA" -name '*.mp4' 2>/dev/null | wc -l) clips in $ROOT$DATA"
    fi
    remove "$DATA"
    remove "$ETC"
    if staging; then
      say "skip userdel $SERVICE_USER (--root)"
    elif id "$SERVICE_USER" >/dev/null 2>&1; then
      run userdel "$SERVICE_USER"
    else
      say "ok user $SERVICE_USER (absent)"
    fi
  else
    say "kept $ROOT$ETC (configuration) and $ROOT$DATA (recordings); --uninstall --purge deletes them"
  fi
  say "the checkout $APP_DIR and the system packages (nodejs, ffmpeg, pnpm) are left as they are"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Preconditions: the service must be able to read the code and node (ProtectHome=yes hides
# /home, /root and /run/user from it), and the paths go into a unit file unquoted.
case "$APP_DIR" in
  *[!A-Za-z0-9/._-]*) fail "the checkout's path '$APP_DIR' has characters a unit file cannot take; clone it to /opt/preroll" ;;
esac
case "$APP_DIR" in
  /home/*|/root/*|/root|/run/user/*)
    msg="the checkout $APP_DIR is in a home directory, which the service cannot read (ProtectHome). Move it and run this again from there:
    sudo mv $APP_DIR /opt/preroll && sudo chown -R \"\$(id -un):\" /opt/preroll && sudo /opt/preroll/deploy/install.sh"
    # A dry run reports it and goes on, so it shows every other problem too.
    if staging || [ "$DRY" -eq 1 ]; then say "warning: $msg"; else fail "$msg"; fi
    ;;
esac

# Node.js >= 20.19. Installed from the OS when missing; Bookworm's is 18, which is too old.
node_ok() {
  have node && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'
}
# apt-get install, after one apt-get update (a fresh image's package lists are stale).
APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    run apt-get update -qq
    APT_UPDATED=1
  fi
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
apt_missing() {
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$pkg"
  done
}
if staging; then
  say "skip packages and build (--root): they are installed on the machine that runs Preroll"
else
  if ! have node || ! have npm; then
    # Only the missing ones: a NodeSource nodejs carries npm and conflicts with Debian's npm.
    pkgs=""
    have node || pkgs="nodejs"
    have npm || pkgs="$pkgs npm"
    # shellcheck disable=SC2086 # the package list is split on purpose
    apt_install $pkgs
  fi
  if have node && ! node_ok; then
    codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
    echo "install: error: Node.js $(node --version) is too old; Preroll needs 20.19 or newer." >&2
    if [ "$codename" = bookworm ]; then
      cat >&2 <<'EOF'
       Raspberry Pi OS / Debian Bookworm ships Node.js 18. Either:
         1. flash Raspberry Pi OS Trixie (64-bit) instead (recommended: Node 20 from the OS), or
         2. install Node.js 22 from NodeSource (its nodejs includes npm), then run this again:
              sudo apt-get remove -y npm nodejs
              curl -fsSL https://deb.nodesource.com/setup_22.x -o nodesource_setup.sh
              sudo bash nodesource_setup.sh && sudo apt-get install -y nodejs
       See docs/troubleshooting.md, "Node.js is too old".
EOF
    else
      echo "       Install Node.js 20.19+ (Debian trixie has it; elsewhere NodeSource), then run this again." >&2
    fi
    exit 1
  fi
  if [ "$DRY" -eq 1 ] && ! have node; then say "(Node.js's version is checked once it is installed)"; fi

  # The reboot button goes through logind, which asks polkit (sudo cannot work under
  # NoNewPrivileges).
  missing=$(apt_missing polkitd)
  if [ -n "$missing" ]; then
    # shellcheck disable=SC2086 # the package list is split on purpose
    apt_install $missing
  fi

  # ffmpeg, rpicam-apps on a Pi, pnpm 10, the dependencies and the build: deploy/setup.sh, as the
  # checkout's owner so the files it writes stay theirs (setup.sh runs pnpm as SUDO_USER).
  owner=$(stat -c %U "$APP_DIR")
  if [ "$owner" != root ] && ! have sudo; then
    say "note: sudo is not installed, so the build runs as root inside $owner's checkout"
    owner=root
  fi
  # On a board under 1 GB (a Zero 2 W) the build and a running recorder do not both fit: stop
  # the service for the build (the open clip is closed first); it is started again below.
  mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
  if [ "${mem_kb:-0}" -lt 1048576 ] && systemd_running && systemctl is-active --quiet preroll.service 2>/dev/null; then
    run systemctl stop preroll.service
  fi
  if [ "$DRY" -eq 1 ]; then
    say "would run: deploy/setup.sh as $owner (ffmpeg, rpicam-apps on a Pi, pnpm 10, dependencies, build)"
  else
    SUDO_USER=$owner sh "$APP_DIR/deploy/setup.sh"
  fi
fi
if [ "$DRY" -eq 0 ] && ! staging && [ ! -f "$CLI" ]; then fail "the build did not produce $CLI"; fi
if staging && [ ! -f "$CLI" ]; then say "warning: $CLI is not built yet (run deploy/setup.sh)"; fi

NODE=$(command -v node 2>/dev/null || echo /usr/bin/node)
case "$NODE" in
  /home/*|/root/*|/run/user/*) fail "node is $NODE, in a home directory the service cannot read; install Node.js system-wide (apt or NodeSource)" ;;
esac

# The service's user: a system account with no login, in the camera's groups.
if staging; then
  say "skip user $SERVICE_USER (--root)"
else
  if id "$SERVICE_USER" >/dev/null 2>&1; then
    say "ok user $SERVICE_USER"
  else
    run useradd --system --user-group --home-dir "$DATA" --no-create-home \
      --shell /usr/sbin/nologin --comment "Preroll recorder" "$SERVICE_USER"
  fi
  # video: the camera and the H.264 encoder; render: the GPU; gpio: /dev/gpiochip* for a button.
  for group in video render gpio; do
    getent group "$group" >/dev/null 2>&1 || continue
    if id -nG "$SERVICE_USER" 2>/dev/null | tr ' ' '\n' | grep -qx "$group"; then
      say "ok $SERVICE_USER in group $group"
    else
      run usermod -a -G "$group" "$SERVICE_USER"
    fi
  done
fi

# Recordings. 0750: the recordings are nobody else's business (Samba reads them as preroll).
put_dir "$DATA" 0750 "$SERVICE_USER:$SERVICE_USER"
put_dir "$DATA/events" 0750 "$SERVICE_USER:$SERVICE_USER"
put_dir "$ETC" 0755 root:root

# The default configuration: only what differs from the built-in defaults. The camera's size,
# rate and encoder come from the Pi model's profile (camera.profile), so they are left out.
cat > "$TMP/config.json" <<EOF
{
  "camera": { "id": "cam", "source": "auto", "profile": "auto" },
  "server": { "host": "0.0.0.0", "port": 8080, "dataDir": "$DATA" },
  "retention": { "maxDiskPct": 80 },
  "actions": { "allowReboot": false, "allowExit": false, "rebootCommand": ["systemctl", "reboot"] }
}
EOF
# 0640, group preroll: the file may hold MQTT and webhook secrets; only root and the service read it.
put_file "$TMP/config.json" "$CONFIG" 0640 "root:$SERVICE_USER" keep
# A configuration kept from an older install may still be world-readable.
if [ -e "$ROOT$CONFIG" ] && [ "$(stat -c %a "$ROOT$CONFIG")" != 640 ]; then
  if [ "$DRY" -eq 1 ]; then say "would fix $ROOT$CONFIG (mode 0640)"
  else
    chmod 0640 "$ROOT$CONFIG"
    if ! staging; then chown "root:$SERVICE_USER" "$ROOT$CONFIG"; fi
    CHANGED=1
    say "fixed $ROOT$CONFIG (mode 0640)"
  fi
fi

cat > "$TMP/env" <<'EOF'
# Environment of the preroll service (read by systemd as root; keep this file mode 0600).
# PREROLL_PASSWORD sets the web password and wins over the one set with `sudo preroll passwd`.
# Uncomment, then: sudo systemctl restart preroll
#PREROLL_PASSWORD=change-me-to-something-long
EOF
put_file "$TMP/env" "$ENV_FILE" 0600 root:root keep

# The reboot button: `systemctl reboot` as the preroll user asks logind, and logind asks polkit.
# This rule answers yes for that user and those actions only. ES5: Bookworm's polkit runs rules
# with duktape.
cat > "$TMP/polkit.rules" <<'EOF'
// Installed by Preroll's deploy/install.sh: lets the preroll service reboot the machine
// (`systemctl reboot`, the web page's reboot button when actions.allowReboot is true).
polkit.addRule(function (action, subject) {
  if (subject.user === "preroll" &&
      (action.id === "org.freedesktop.login1.reboot" ||
       action.id === "org.freedesktop.login1.reboot-multiple-sessions")) {
    return polkit.Result.YES;
  }
});
EOF
put_file "$TMP/polkit.rules" "$POLKIT_RULE" 0644 root:root replace

# The command line, run as the service's user so what it writes (auth.json, recordings) stays
# readable by the service, with the service's configuration unless --config is given.
cat > "$TMP/wrapper" <<EOF
#!/bin/sh
# Preroll's command line for the installed service (written by deploy/install.sh).
# As root it runs as the user $SERVICE_USER: sudo preroll passwd, sudo preroll reindex ...
export PREROLL_CONFIG="\${PREROLL_CONFIG:-$CONFIG}"
if [ "\$(id -u)" -eq 0 ]; then
  exec runuser -u $SERVICE_USER -- $NODE $CLI "\$@"
fi
exec $NODE $CLI "\$@"
EOF
put_file "$TMP/wrapper" "$WRAPPER" 0755 root:root replace

# The unit, with this machine's node and checkout in place of the template's paths.
sed -e "s|/usr/bin/node|$NODE|g" -e "s|/opt/preroll|$APP_DIR|g" "$APP_DIR/deploy/preroll.service" > "$TMP/preroll.service"
CHANGED=0
put_file "$TMP/preroll.service" "$UNIT" 0644 root:root replace
UNIT_CHANGED=$CHANGED

if staging; then
  say "skip systemctl daemon-reload, enable and start (--root)"
elif ! systemd_running; then
  say "systemd is not running here (a container?): start Preroll by hand with"
  say "  runuser -u $SERVICE_USER -- $NODE $CLI serve --config $CONFIG"
else
  if [ "$UNIT_CHANGED" -eq 1 ]; then run systemctl daemon-reload; fi
  if systemctl is-enabled --quiet preroll.service 2>/dev/null; then
    say "ok preroll.service enabled"
  else
    run systemctl enable preroll.service
  fi
  # Restarting is how an update takes effect; the running clip is closed properly first.
  if systemctl is-active --quiet preroll.service; then
    run systemctl restart preroll.service
  else
    run systemctl start preroll.service
  fi
  if [ "$DRY" -eq 0 ]; then
    # Ready when /healthz answers (a Zero 2 W takes a few seconds to start node).
    if url=$("$NODE" "$CLI" config print "$CONFIG" 2>/dev/null | "$NODE" "$APP_DIR/deploy/wait-ready.js" 60); then
      say "Preroll is running: $(echo "$url" | sed "s/HOST/$(hostname).local/")"
    else
      say "warning: Preroll did not answer within 60 s; see: journalctl -u preroll -e"
    fi
  fi
fi

if [ "$DRY" -eq 1 ]; then
  say "dry run: nothing was changed"
else
  say "done. Password: set one with 'sudo preroll passwd' (or PREROLL_PASSWORD in $ENV_FILE);"
  say "  otherwise the first start generated one (never logged): sudo cat $DATA/initial-password"
  say "  recordings: $DATA/events   configuration: $CONFIG   logs: journalctl -u preroll -f"
fi
