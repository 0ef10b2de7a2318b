#!/usr/bin/env bash
# Runs the eval scaling benchmark and prints time(4n)/time(n): about 4 means
# linear (the gather form), about 16 would mean a masked scatter.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p sharegrad-core --bench eval_scaling -- --noplot "$@"
python3 - <<'PY'
import json, os
base = "target/criterion"
est = lambda p: json.load(open(os.path.join(base, p, "new", "estimates.json")))["median"]["point_estimate"]
n, n4 = est("eval_conv1d_strided/65536"), est("eval_conv1d_strided/262144")
m = est("eval_conv1d_million/1048576")
print(f"eval, strided+dilated+padded conv1d: n=65536 {n/1e6:.2f} ms, 4n {n4/1e6:.2f} ms, ratio {n4/n:.2f} (linear: 4)")
print(f"eval, conv1d with 2^20 inputs (forward + backward): {m/1e6:.1f} ms")
PY
