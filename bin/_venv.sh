# Shared by bin/demo and bin/test: create .venv with a suitable Python and install the project into it.
venv_ready() {
  local extra="$1" python=""
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      python="$candidate"; break
    fi
  done
  [ -n "$python" ] || { echo "Python 3.11 or newer is needed." >&2; exit 1; }
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  local spec="." stamp=".venv/.installed-${extra:-base}" sum
  [ -n "$extra" ] && spec=".[$extra]"
  sum=$(sha256sum pyproject.toml | cut -c1-16)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "Installing dependencies into .venv (the first run takes a minute or two) ..."
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e "$spec"
    echo "$sum" > "$stamp"
  fi
}
