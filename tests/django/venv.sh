#!/usr/bin/env bash
# Creates, or brings up to date, the virtualenv of the Django side of the end-to-end tests:
# Django, Django REST framework, argon2-cffi, bcrypt and psycopg at the versions pinned in
# tests/django/requirements.txt.
#
#   tests/django/venv.sh            # executed: makes sure the venv is there
#   . tests/django/venv.sh          # sourced: the same, then sets DJANGO_VENV (absolute) and
#                                   # DJANGO_PYTHON (its python) in the calling shell
#
# The venv lives at ${DJANGO_VENV:-target/django/venv} (a relative path is taken from the
# repository's root). It is rebuilt only when missing, broken, or when requirements.txt or
# python3 changed: a stamp inside it holds a SHA-256 of both. Needs python3 with the venv
# module (Debian: python3-venv) and access to PyPI. Prints nothing on stdout; errors go to
# stderr, and the status is non-zero on failure.

_tokenauth_django_venv() {
  local root req venv stamp want have lock_fd
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd) || return 1
  req="$root/tests/django/requirements.txt"
  venv="${DJANGO_VENV:-target/django/venv}"
  case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
  stamp="$venv/.tokenauth-requirements.sha256"

  if ! command -v python3 >/dev/null 2>&1; then
    echo "tests/django/venv.sh: python3 not found" >&2
    return 1
  fi
  want=$( { cat "$req" && python3 -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1 ) \
    || { echo "tests/django/venv.sh: cannot read $req" >&2; return 1; }

  mkdir -p "$(dirname "$venv")" || return 1
  # Two runs at once (e.g. parallel test jobs) must not build the same venv together.
  if command -v flock >/dev/null 2>&1; then
    exec {lock_fd}>"$venv.lock" || return 1
    flock "$lock_fd" || { exec {lock_fd}>&-; return 1; }
  fi

  have=$(cat "$stamp" 2>/dev/null || true)
  local status=0
  if [ "$want" != "$have" ] || ! "$venv/bin/python" -c 'import django, rest_framework, argon2, bcrypt, psycopg' >/dev/null 2>&1; then
    if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
      echo "tests/django/venv.sh: $venv exists and is not a virtualenv; not touching it" >&2
      status=1
    else
      rm -rf "$venv"
      if ! python3 -m venv "$venv" >&2; then
        echo "tests/django/venv.sh: 'python3 -m venv' failed (Debian: apt-get install python3-venv)" >&2
        status=1
      elif ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-input \
          -r "$req" >&2; then
        echo "tests/django/venv.sh: pip install -r $req failed" >&2
        status=1
      else
        printf '%s\n' "$want" >"$stamp"
      fi
    fi
  fi

  if [ -n "${lock_fd:-}" ]; then exec {lock_fd}>&-; fi
  [ "$status" -eq 0 ] || return "$status"
  DJANGO_VENV=$venv
  DJANGO_PYTHON=$venv/bin/python
  export DJANGO_VENV DJANGO_PYTHON
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  _tokenauth_django_venv
  exit $?
else
  _tokenauth_django_venv
fi
