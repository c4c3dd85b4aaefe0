# Shared by ./scripts/serve and ./scripts/test: idempotent setup of what they need.
# Sourced, not executed.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

ensure_python() {
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "punktfunk needs Python >= 3.11; '$PYTHON' was not found (set PYTHON=...)" >&2
    exit 1
  fi
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "punktfunk needs Python >= 3.11; $PYTHON is $("$PYTHON" -V 2>&1)" >&2
    exit 1
  fi
}

# ensure_venv [dev|demo]: create .venv and (re)install the package when pyproject.toml changed.
ensure_venv() {
  local extra="${1:-}"
  ensure_python
  if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local want
  want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
  # A dev install is a superset of the runtime and demo installs.
  if [ "$(cat "$VENV/.stamp-dev" 2>/dev/null)" = "$want" ]; then return; fi
  if [ "$(cat "$VENV/.stamp-${extra:-runtime}" 2>/dev/null)" = "$want" ]; then return; fi
  step "installing punktfunk${extra:+ with [$extra]} into .venv"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT${extra:+[$extra]}"
  echo "$want" >"$VENV/.stamp-${extra:-runtime}"
}

# ensure_debian_packages PKG:FILE ...: install each Debian package whose FILE is missing.
ensure_debian_packages() {
  local missing=() pair
  for pair in "$@"; do
    [ -e "${pair#*:}" ] || missing+=("${pair%%:*}")
  done
  [ "${#missing[@]}" -eq 0 ] && return
  step "installing Debian packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "the tests need these Debian packages: ${missing[*]}" >&2
      echo "install them (apt-get install ${missing[*]}) or run as root" >&2
      exit 1
    fi
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# ensure_console_packages: `npm ci` in console/ when its lock file changed.
ensure_console_packages() {
  local dir="$ROOT/console"
  [ -f "$dir/package.json" ] || return 0
  if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "the console needs Node.js >= 20.19 with npm to build; install them and run again" >&2
    exit 1
  fi
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
      process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "the console needs Node.js >= 20.19 (Vite 7); this is $(node --version)" >&2
    exit 1
  fi
  local want
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$dir/node_modules/.stamp-punktfunk" 2>/dev/null)" != "$want" ]; then
    step "installing the console's npm packages"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$dir/node_modules/.stamp-punktfunk"
  fi
}

# build_console: `npm run build` when anything the build reads changed.
build_console() {
  local dir="$ROOT/console"
  [ -f "$dir/package.json" ] || return 0
  ensure_console_packages
  local want
  want="$(cd "$ROOT" && find console -path console/node_modules -prune -o -path console/dist -prune \
    -o -type f -print | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$dir/dist/.stamp-punktfunk" 2>/dev/null)" != "$want" ]; then
    step "building the console"
    (cd "$dir" && npm run build --silent)
    echo "$want" >"$dir/dist/.stamp-punktfunk"
  fi
}
