#!/usr/bin/env bash
# LiteLLM's proxy, for comparison in benchmarks/relay_bench.py: installed in the benchmark's own
# venv (benchmarks/.venv-litellm, gitignored), never a kimrel dependency.
#   bash benchmarks/setup_litellm.sh            # latest litellm[proxy]
#   LITELLM_SPEC='litellm[proxy]==1.110.2' bash benchmarks/setup_litellm.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-litellm"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "${LITELLM_SPEC:-litellm[proxy]}"
"$venv/bin/litellm" --version 2>/dev/null || "$venv/bin/python" -c "import litellm; print('litellm', litellm.__version__ if hasattr(litellm, '__version__') else '?')"
echo "LiteLLM installed in $venv"
