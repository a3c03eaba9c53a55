#!/usr/bin/env bash
# Print the path of a Python interpreter of version $1 (e.g. 3.10), found
# through pyenv or PATH; fail with a clear message when there is none.
set -euo pipefail
want="$1"
candidates=()
if command -v pyenv >/dev/null 2>&1; then
  root="$(pyenv root)"
  for dir in $(ls -d "$root"/versions/"$want".* 2>/dev/null | sort -V -r); do
    candidates+=("$dir/bin/python$want")
  done
fi
candidates+=("$(command -v "python$want" 2>/dev/null || true)")
for python in "${candidates[@]}"; do
  if [ -n "$python" ] && [ -x "$python" ] && "$python" -c "import sys; assert sys.version.startswith('$want.')" 2>/dev/null; then
    echo "$python"
    exit 0
  fi
done
echo "error: Python $want is required but was not found (looked in pyenv and PATH)." >&2
echo "       Install it, e.g. 'pyenv install $want', then run make again." >&2
exit 1
