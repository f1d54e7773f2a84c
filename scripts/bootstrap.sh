# Shared set-up for scripts/run and scripts/test (sourced, not run).
# Installs Debian packages that are missing, then Echo in ./.venv.
apt_install() {
  [ $# -gt 0 ] || return 0
  export DEBIAN_FRONTEND=noninteractive
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "$@"
}

ensure_venv() {  # $1: pip extras, e.g. "[test]" or ""
  if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    apt_install python3-venv
  fi
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$1"
}
