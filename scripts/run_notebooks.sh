#!/usr/bin/env bash
# Executes the Jupyter notebooks in Notebooks/ headless (nbclient), on the tiny spec
# Notebooks/tiny-sweep.json, with the release dydit binary: the CI check that they still run.
# Installs what it needs with pip into a virtual environment (.build/nbvenv; NB_VENV overrides),
# or with `pip install --user` where this python cannot make one. Exits non-zero on any cell
# error, printing the failing cell and its output. Runnable from any folder.
#
#   scripts/run_notebooks.sh                   # every notebook in Notebooks/
#   scripts/run_notebooks.sh Notebooks/pareto.ipynb
#
# Environment: DYDIT_BIN (default .build/release/dydit: build it first with
# `swift build -c release`), DYDIT_SPEC (default Notebooks/tiny-sweep.json), DYDIT_OUT (default a
# temporary folder, removed afterwards), NB_KEEP=1 to keep the temporary folder (executed
# notebooks and figures), NB_VENV, PYTHON (the interpreter to use).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
caller="$PWD"
absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$caller/$1" ;; esac; }
cd "$root"

# Paths given relative to the folder this was started from.
dydit_bin="$(absolute "${DYDIT_BIN:-$root/.build/release/dydit}")"
[ -z "${DYDIT_SPEC:-}" ] || DYDIT_SPEC="$(absolute "$DYDIT_SPEC")"
[ -z "${DYDIT_OUT:-}" ] || DYDIT_OUT="$(absolute "$DYDIT_OUT")"
[ -z "${NB_VENV:-}" ] || NB_VENV="$(absolute "$NB_VENV")"
if [ ! -x "$dydit_bin" ]; then
  echo "run_notebooks: $dydit_bin is missing: run 'swift build -c release' first (or set DYDIT_BIN)" >&2
  exit 1
fi
notebooks=()
for notebook in "$@"; do notebooks+=("$(absolute "$notebook")"); done
[ ${#notebooks[@]} -gt 0 ] || notebooks=("$root"/Notebooks/*.ipynb)

tmp="$(mktemp -d "${TMPDIR:-/tmp}/dydit-notebooks.XXXXXX")"
if [ "${NB_KEEP:-0}" = 1 ]; then
  trap 'echo "run_notebooks: kept $tmp"' EXIT
else
  trap 'rm -rf "$tmp"' EXIT
fi

packages=(nbclient nbformat ipykernel matplotlib pandas)
pip_flags=(--quiet --disable-pip-version-check --no-input)
export PIP_ROOT_USER_ACTION=ignore  # CI runs as root
start=$SECONDS

# A Python with the packages: a venv if this machine's python can make one (Debian's needs the
# python3-venv package for that), else a --user install (with --break-system-packages where
# pip knows it, for Debian's externally managed python).
candidates=(python3 /usr/bin/python3)
[ -z "${PYTHON:-}" ] || candidates=("$PYTHON")
venv="${NB_VENV:-$root/.build/nbvenv}"
if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
  echo "run_notebooks: $venv exists and is not a virtual environment; set NB_VENV to another folder" >&2
  exit 1
fi
python=""
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  python="$venv/bin/python"
else
  for candidate in "${candidates[@]}"; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if "$candidate" -m venv "$venv" >"$tmp/venv.log" 2>&1 && "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
      python="$venv/bin/python"
      echo "run_notebooks: made a virtual environment $venv with $("$candidate" --version 2>&1) ($(command -v "$candidate"))"
      break
    fi
    echo "run_notebooks: $candidate cannot make a virtual environment: $(tail -n 1 "$tmp/venv.log")"
    rm -rf "$venv"
  done
fi
if [ -n "$python" ]; then
  "$python" -m pip install "${pip_flags[@]}" "${packages[@]}"
else
  for candidate in "${candidates[@]}"; do
    command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1 || continue
    python="$(command -v "$candidate")"
    break
  done
  if [ -z "$python" ]; then
    echo "run_notebooks: no python3 with venv or pip here: install python3-venv or python3-pip" >&2
    exit 1
  fi
  echo "run_notebooks: installing into the user site of $python"
  user_flags=(--user --no-warn-script-location)
  if "$python" -m pip install --help 2>/dev/null | grep -- --break-system-packages >/dev/null; then
    user_flags+=(--break-system-packages)
  fi
  "$python" -m pip install "${pip_flags[@]}" "${user_flags[@]}" "${packages[@]}"
fi
echo "run_notebooks: $("$python" --version 2>&1) ready in $((SECONDS - start)) s ($python)"

# A python3 kernel of this very interpreter, in a Jupyter data folder of our own so that no
# kernelspec installed elsewhere (user or system) is picked up instead.
"$python" -m ipykernel install --prefix "$tmp/jupyter" --name python3 --display-name "Python 3 (dydit notebooks)" >"$tmp/kernel.log" 2>&1 || { cat "$tmp/kernel.log" >&2; exit 1; }
export JUPYTER_PATH="$tmp/jupyter/share/jupyter"
export JUPYTER_PLATFORM_DIRS=1
export MPLBACKEND=module://matplotlib_inline.backend_inline
export DYDIT_BIN="$dydit_bin"
export DYDIT_SPEC="${DYDIT_SPEC:-$root/Notebooks/tiny-sweep.json}"
export DYDIT_OUT="${DYDIT_OUT:-$tmp/out}"
# results.ipynb writes its table and figure here, not over the committed ones in Experiments/results.
export DYDIT_RESULTS_OUT="${DYDIT_RESULTS_OUT:-$tmp/results}"
mkdir -p "$tmp/executed"

"$python" - "$tmp/executed" "${notebooks[@]}" <<'PY'
import os
import pathlib
import re
import sys
import time

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

executed_dir = pathlib.Path(sys.argv[1])
print(f"kernel python3: {' '.join(KernelSpecManager().get_kernel_spec('python3').argv[:1])}")
print(f"DYDIT_BIN={os.environ['DYDIT_BIN']}\nDYDIT_SPEC={os.environ['DYDIT_SPEC']}\nDYDIT_OUT={os.environ['DYDIT_OUT']}")
failed = []
for path in map(pathlib.Path, sys.argv[2:]):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.monotonic()
    try:
        client.execute()
        status = "ok"
    except Exception as error:  # a cell's error, a time-out, a dead kernel
        status = "FAILED"
        failed.append(path.name)
        # The failing cell's output (streams and results), then its source and traceback.
        cell = next((c for c in nb.cells if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
        print(f"\n===== {path.name}: {type(error).__name__}; the failing cell's output =====")
        for output in cell.outputs if cell is not None else []:
            if output.output_type == "stream":
                print(output.text, end="")
            elif "text/plain" in output.get("data", {}):
                print(output.data["text/plain"])
        print(f"===== {path.name}: the cell and its error =====")
        print(re.sub(r"\x1b\[[0-9;]*m", "", str(error)))
    finally:
        nbformat.write(nb, executed_dir / path.name)
    print(f"{status}: {path.name} in {time.monotonic() - start:.1f} s (executed copy: {executed_dir / path.name})")
out_dir = pathlib.Path(os.environ["DYDIT_OUT"])
figures = sorted(f.relative_to(out_dir) for f in out_dir.glob("**/*.png"))
print(f"figures in {out_dir}: {', '.join(str(f) for f in figures) or 'none'}")
total = len(sys.argv) - 2
print(f"notebooks: {total - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
PY
echo "run_notebooks: done in $((SECONDS - start)) s"
