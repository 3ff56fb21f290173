#!/usr/bin/env bash
# The GPU check (issue 18), on a machine with a CUDA GPU, in under 8 minutes:
#   1. installs what the lab needs beyond what is there: wheels carried in .whl/ (a machine without network),
#      else pip from requirements.txt's pins (only the missing packages; never another torch);
#   2. runs the GPU tests (pytest -m gpu: tests/test_gpu.py) and the CPU/GPU tests of devices and N:M sparsity;
#   3. runs the GPU benchmark (benchmarks/bench_gpu.py: 2:4 on a 4x4096x4096 Linear stack and a MiniLM-sized
#      encoder at batch 1..1024, LeNet-300-100 digits prune --pattern 2:4 on CUDA vs CPU);
#   4. writes one JSON of results: $OUT/gpu_check.json (or gpu_check_out/gpu_check.json), beside the pytest
#      report (junit XML) and the benchmark's log.
#
#   bash scripts/gpu_check.sh            # exit status 0: tests green and benchmark written
#   BENCH_ARGS='--skip encoder' bash scripts/gpu_check.sh   # options passed to bench_gpu.py
# Time limits: tests 180 s, benchmark 240 s (about 7 minutes at most with the installs).
#
# Without CUDA it still runs: the GPU tests are skipped (not failed) and the benchmark says why nothing was timed.
# Carrying wheels for a machine without network (on a machine with pip, in the repo root):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl torch-pruning==1.6.1
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-${GPU_CHECK_OUT:-gpu_check_out}}"
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
PY="${PYTHON:-python3}"
began=$(date +%s)

# 1. what the engine imports and the machine may lack (torch, numpy, transformers, ... are expected there)
if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_check_site \
        .whl/*.whl || { echo "gpu_check: installing the carried wheels in .whl/ failed"; exit 2; }
    export PYTHONPATH="/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}"
fi
missing=$("$PY" - <<'EOF'
import importlib.util
need = {"torch_pruning": "torch-pruning", "safetensors": "safetensors", "yaml": "PyYAML", "sklearn": "scikit-learn",
        "pandas": "pandas", "pytest": "pytest", "transformers": "transformers"}
print(" ".join(pip for mod, pip in need.items() if importlib.util.find_spec(mod) is None))
EOF
)
if [ -n "$missing" ]; then
    pins=()
    for name in $missing; do
        pin=$(grep -i "^${name}==" requirements.txt requirements-dev.txt 2>/dev/null | head -1 | cut -d: -f2)
        pins+=("${pin:-$name}")
    done
    echo "gpu_check: installing ${pins[*]} (not on this machine)"
    "$PY" -m pip install -q --no-deps "${pins[@]}" || {
        echo "gpu_check: ${pins[*]} missing and not installable here (no network?): carry them as wheels in .whl/"; exit 2; }
fi
"$PY" - <<'EOF' | tee "$OUT_DIR/gpu_env.txt"
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, available {torch.cuda.is_available()}")
for i in range(torch.cuda.device_count()):
    free, total = torch.cuda.mem_get_info(i)
    print(f"cuda:{i} {torch.cuda.get_device_name(i)} capability {torch.cuda.get_device_capability(i)} "
          f"{free / 2**30:.1f}/{total / 2**30:.1f} GiB free")
EOF

# 2. tests: the GPU ones, and the device / N:M tests (which also run on the CPU in CI)
timeout 180 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" --junitxml="$OUT_DIR/gpu_tests.xml" \
    tests/test_gpu.py tests/test_devices.py tests/test_nm_sparsity.py 2>&1 | tee "$OUT_DIR/gpu_tests.log"
tests_rc=${PIPESTATUS[0]}

# 3. the benchmark (its own JSON)
timeout 240 "$PY" benchmarks/bench_gpu.py --json "$OUT_DIR/bench_gpu.json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT_DIR/bench_gpu.log"
bench_rc=${PIPESTATUS[0]}

# 4. one JSON: environment, test counts, benchmark
"$PY" - "$OUT_DIR" "$tests_rc" "$bench_rc" "$began" <<'EOF'
import json, sys, time
import xml.etree.ElementTree as ET
from pathlib import Path

out, tests_rc, bench_rc, began = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
tests = {"exit_status": tests_rc}
try:
    suite = ET.parse(out / "gpu_tests.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    tests.update({k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")})
    tests["failed"] = [f"{c.get('classname')}::{c.get('name')}" for c in suite.iter("testcase")
                       if c.find("failure") is not None or c.find("error") is not None]
except (OSError, ET.ParseError) as exc:
    tests["report"] = f"no junit report: {exc}"
try:
    bench = json.loads((out / "bench_gpu.json").read_text())
except (OSError, ValueError) as exc:
    bench = {"error": f"no benchmark JSON (exit status {bench_rc}): {exc}"}
result = {"environment": (out / "gpu_env.txt").read_text().strip() if (out / "gpu_env.txt").exists() else None,
          "tests": tests, "benchmark": bench, "benchmark_exit_status": bench_rc, "seconds": time.time() - began}
(out / "gpu_check.json").write_text(json.dumps(result, indent=1, default=str))
print(f"gpu_check: tests exit {tests_rc}, benchmark exit {bench_rc}, {result['seconds']:.0f} s -> {out / 'gpu_check.json'}")
EOF
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
