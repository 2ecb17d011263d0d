#!/usr/bin/env bash
# Creates bench/peers/.venv with Seldon MLServer 1.7 + mlserver-sklearn (the "real peer").
# Idempotent: does nothing when the venv already imports mlserver_sklearn.
# uvloop is pinned to 0.21.0: MLServer's worker crashes with uvloop 0.23.
# scikit-learn/joblib/numpy are pinned to the regwatch venv's versions so both servers
# unpickle and run the very same model file with the same library code.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
main_py="${MAIN_PYTHON:-$here/../../.venv/bin/python}"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import mlserver, mlserver_sklearn' 2>/dev/null; then
  exit 0
fi
pins=$("$main_py" - <<'PY'
from importlib.metadata import version
print(" ".join(f"{p}=={version(p)}" for p in ("scikit-learn", "joblib", "numpy")))
PY
)
python3 -m venv "$venv" 2>/dev/null || "$main_py" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
# shellcheck disable=SC2086
"$venv/bin/pip" install --quiet 'mlserver==1.7.*' 'mlserver-sklearn==1.7.*' 'uvloop==0.21.0' $pins \
  || "$venv/bin/pip" install --quiet 'mlserver==1.7.*' 'mlserver-sklearn==1.7.*' 'uvloop==0.21.0'
"$venv/bin/python" -c 'import mlserver, mlserver_sklearn; print("mlserver", mlserver.__version__)'
