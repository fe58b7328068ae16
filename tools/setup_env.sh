#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv/ at the repo root).
#
# Idempotent: a second run checks each piece and installs only what is missing.
# Versions come from requirements/constraints.txt (pip install -c); the
# package's own requirements are ranges. The one slow step is mmcv 2.1.0,
# which has no wheel on PyPI and is compiled
# from source with its ops (about 12 minutes on 2 CPU cores). The wheel is
# cached outside the repo, keyed by mmcv, torch, Python and CUDA versions, so
# later setups reuse it in seconds.
#
# Environment variables:
#   PYTHON             interpreter used to create the venv (default: python3.11, then python3)
#   VENV               venv path (default: <repo>/.venv)
#   DC_WHEEL_CACHE     mmcv wheel cache (default: ${XDG_CACHE_HOME:-~/.cache}/dense_contrast/wheels)
#   DC_SETUP_QUIET=1   less pip output
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
# The tested versions: every pip install below runs with `-c` on this file,
# and the versions checked here are read from it.
CONSTRAINTS="$ROOT/requirements/constraints.txt"
[ -f "$CONSTRAINTS" ] || { printf '[setup] ERROR: %s is missing\n' "$CONSTRAINTS" >&2; exit 1; }
pinned() {
  local v
  v=$(sed -n "s/^$1==\([^ #]*\).*/\1/p" "$CONSTRAINTS")
  [ -n "$v" ] || { printf '[setup] ERROR: %s pins no %s (expected a line %s==VERSION)\n' "$CONSTRAINTS" "$1" "$1" >&2; exit 1; }
  echo "$v"
}
MMCV_VERSION=$(pinned mmcv)
TORCH_VERSION=$(pinned torch)
TORCHVISION_VERSION=$(pinned torchvision)
MMENGINE_VERSION=$(pinned mmengine)
MMPRETRAIN_VERSION=$(pinned mmpretrain)
MMDET_VERSION=$(pinned mmdet)
MMSEG_VERSION=$(pinned mmsegmentation)
OPENMIM_VERSION=$(pinned openmim)
CACHE="${DC_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dense_contrast/wheels}"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - START ))s"; }
START=$(date +%s)

PIP_QUIET=()
[ "${DC_SETUP_QUIET:-0}" = 1 ] && PIP_QUIET=(-q)

# ---------------------------------------------------------------- interpreter
if [ -z "${PYTHON:-}" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
[ -n "${PYTHON:-}" ] || die "no Python interpreter found (need python3.11; set PYTHON=/path/to/python3.11)"
PYVER=$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
[ "$PYVER" = "3.11" ] || say "warning: Python $PYVER; the stack was verified with Python 3.11 (torch $TORCH_VERSION wheels)"
command -v gcc >/dev/null 2>&1 || die "gcc not found: it is needed to compile mmcv's ops (apt-get install build-essential)"
command -v g++ >/dev/null 2>&1 || die "g++ not found: it is needed to compile mmcv's ops (apt-get install g++)"

# ---------------------------------------------------------------- venv
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV with $PYTHON ($PYVER)"
  "$PYTHON" -m venv "$VENV" || die "could not create $VENV (is the venv module installed? apt-get install python3-venv)"
else
  say "virtual environment $VENV exists"
fi
PY="$VENV/bin/python"
pip_install() { "$PY" -m pip install "${PIP_QUIET[@]}" -c "$CONSTRAINTS" "$@"; }
have() { "$PY" - "$@" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for spec in sys.argv[1:]:
    name, want = spec.split('==')
    try:
        ok &= version(name) == want
    except PackageNotFoundError:
        ok = False
sys.exit(0 if ok else 1)
PYEOF
}

# ---------------------------------------------------------------- torch
if have "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"; then
  say "torch $TORCH_VERSION and torchvision $TORCHVISION_VERSION present"
else
  say "installing torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION (a few GB; about a minute from a local mirror)"
  pip_install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" \
    || die "pip could not install torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION"
fi

# ---------------------------------------------------------------- mmengine
have "mmengine==$MMENGINE_VERSION" || { say "installing mmengine $MMENGINE_VERSION"; pip_install "mmengine==$MMENGINE_VERSION" || die "pip could not install mmengine==$MMENGINE_VERSION"; }

# ---------------------------------------------------------------- mmcv (source build, cached wheel)
# setuptools<80 keeps pkg_resources, which mmcv's setup.py imports; torch may
# have pulled a newer one, so this check comes after torch.
"$PY" -c 'import setuptools, wheel, sys; sys.exit(int(setuptools.__version__.split(".")[0]) >= 80)' 2>/dev/null \
  || { say "installing setuptools<80 and wheel (mmcv's setup.py needs pkg_resources)"; pip_install 'setuptools<80' wheel; }
CUDA_TAG=cpu
if command -v nvcc >/dev/null 2>&1 && "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  CUDA_TAG="cu$(nvcc --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1\2/p')"
fi
PYTAG="cp${PYVER/./}"
KEY="mmcv-${MMCV_VERSION}_torch-${TORCH_VERSION}_${PYTAG}_${CUDA_TAG}"
WHEEL_DIR="$CACHE/$KEY"

mmcv_ops_ok() { "$PY" -c 'import mmcv, torch; from mmcv.ops import nms, roi_align; assert mmcv.__version__ == "'"$MMCV_VERSION"'"; nms(torch.rand(4, 4) * 10, torch.rand(4), 0.5)' >/dev/null 2>&1; }

if mmcv_ops_ok; then
  say "mmcv $MMCV_VERSION with ops present"
else
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    say "no cached mmcv wheel for $KEY in $CACHE"
    say "building mmcv $MMCV_VERSION from source with its ops ($CUDA_TAG): this takes about 12 minutes on 2 cores"
    BUILD=$(mktemp -d)
    trap 'rm -rf "$BUILD"' EXIT
    "$PY" -m pip download "${PIP_QUIET[@]}" --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD" \
      || die "could not download the mmcv==$MMCV_VERSION source distribution from the package index"
    tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
    SRC="$BUILD/mmcv-$MMCV_VERSION"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes C++17.
    sed -i "s/'-std=c++17'/'-std=c++20'/g" "$SRC/setup.py"
    export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
    [ "$CUDA_TAG" != cpu ] && export FORCE_CUDA=1
    mkdir -p "$WHEEL_DIR"
    # --no-build-isolation: mmcv's setup.py must see torch, or it silently builds no ops.
    (cd "$SRC" && "$PY" -m pip wheel "${PIP_QUIET[@]}" --no-build-isolation --no-deps --no-cache-dir -w "$WHEEL_DIR" .) \
      || { rm -rf "$WHEEL_DIR"; die "mmcv build failed (see the compiler output above); needs gcc/g++ with C++20 support"; }
    say "mmcv wheel cached in $WHEEL_DIR ($(elapsed) so far)"
  else
    say "using cached mmcv wheel from $WHEEL_DIR"
  fi
  pip_install --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
  # mmcv's own runtime dependencies (addict, yapf, opencv, ...), without letting pip rebuild mmcv.
  pip_install addict packaging pyyaml yapf opencv-python-headless 'numpy' 'pillow'
  mmcv_ops_ok || die "mmcv $MMCV_VERSION was installed but its ops do not load (from mmcv.ops import nms)"
  say "mmcv $MMCV_VERSION ops check passed"
fi

# ---------------------------------------------------------------- OpenMMLab + project
# openmim comes with the tests extra (mim train / mim run are tested); the
# constraints hold its dataset-download dependency to releases that leave
# setuptools alone.
if have "mmpretrain==$MMPRETRAIN_VERSION" "mmdet==$MMDET_VERSION" "mmsegmentation==$MMSEG_VERSION" "openmim==$OPENMIM_VERSION" \
   && "$PY" -c 'import dense_contrast, pytest, ftfy, regex, matplotlib, mim' >/dev/null 2>&1 \
   && [ -e "$ROOT/dense_contrast/.mim/tools" ]; then
  say "mmpretrain, mmdet, mmsegmentation, openmim and dense_contrast (with its .mim links) present"
else
  say "installing mmpretrain $MMPRETRAIN_VERSION, mmdet $MMDET_VERSION, mmsegmentation $MMSEG_VERSION, openmim $OPENMIM_VERSION and dense_contrast (editable)"
  pip_install --no-build-isolation -e "$ROOT[all]" \
    || die "pip could not install the project within $CONSTRAINTS (requirements/*.txt)"
fi

# ---------------------------------------------------------------- final check
"$PY" - <<'PYEOF' || die "the environment imports failed (see the traceback above)"
import torch, torchvision, mmengine, mmcv, mmpretrain, mmdet, mmseg
import mmseg.models  # needs ftfy and regex
import dense_contrast
import mim  # openmim, for mim train / mim run
from mim.version import __version__ as mim_version
print(f'[setup] torch {torch.__version__}, torchvision {torchvision.__version__}, mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__}, mmpretrain {mmpretrain.__version__}, mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, openmim {mim_version}, '
      f'dense_contrast {dense_contrast.__version__}')
PYEOF
say "environment ready in $(elapsed): activate with 'source $VENV/bin/activate'"
