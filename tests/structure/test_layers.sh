#!/usr/bin/env bash
# The layering rule of docs/architecture.md holds on the tree, and the check that enforces it
# catches what it must: on tests/structure/fixture (an include from spec into ops, from the
# server into train, from a data test into model, one without its folder, a README that
# misstates its row) it fails and names each file, line and rule.
set -u
cd "$(dirname "$0")/../.."
check=tests/structure/check_layers.py

report() { if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fi; }

out=$(python3 "$check" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
report "$rc" "every include in core/, server/ and tests/unit/ keeps the table of docs/architecture.md"

out=$(python3 "$check" --root tests/structure/fixture 2>&1)
rc=$?
echo "$out" | sed 's/^/# fixture: /'
[ "$rc" = 1 ]
report $? "on the fixture the check fails (exit status $rc)"
expect() {
  grep -qF -- "$1" <<< "$out"
  report $? "the fixture's $2 is reported: $1"
}
expect 'core/spec/reaches_ops.h:3: includes "ops/ops.h": spec may include base, config, data' "spec → ops include"
expect 'server/reaches_train.c:4: includes "train/train.h": server may include base, config, data, spec' "server → train include"
expect 'tests/unit/data/test_reaches_model.c:3: includes "model/model.h": data may include base' "data test → model include"
expect 'core/model/unqualified.c:2: includes "rng.h" without its folder' "unqualified include"
expect 'core/model/README.md: says "May include: base, ops, config, data", the table says "base, ops, config"' "misstated README"
expect 'layers: 5 broken rules' "count (allowed includes are not reported)"
