#!/usr/bin/env bash
# tests/run_matrix_xs.sh BIRDIED: the run matrix end to end at CI size (deploy/run-matrix.sh xs): nine
# XS pre-training runs of a few steps, fine-tuning at two learning rates, evaluation, then the table
# and the plots. Checks what a reader of docs/results.md relies on: every run has a row with numbers
# (not dashes) in each table, every plot is a real PNG image of a plausible size, the Birdie runs'
# mixture data has more than one mixture, and a second invocation finds every result and redoes none.
# The numbers themselves mean nothing at this size. TAP output.
set -uo pipefail
birdied=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/# /'; }

export BIRDIED=$birdied DOCS=$tmp/docs
if out=$(bash "$root/deploy/run-matrix.sh" xs --out "$tmp/m" 2>&1); then
  ok "run-matrix xs finishes"
else
  not_ok "run-matrix xs finishes" "$(echo "$out" | tail -20)"
fi
md=$tmp/docs/results-xs.md
if [ -s "$md" ]; then ok "results-xs.md written"; else not_ok "results-xs.md written"; fi
for run in ntp birdie birdie_causal uniform ul2 hawk_ntp hawk_birdie tf_ntp tf_birdie; do
  row=$(grep "^| $run |" "$md" 2>/dev/null | head -1)
  pb=$(grep "^| $run |" "$md" 2>/dev/null | sed -n 2p)
  # pre-training row: val loss, bits/char and infill filled in; phonebook row: K=1 accuracy and a best lr
  if [ -n "$row" ] && ! echo "$row" | cut -d'|' -f4,6,7 | grep -q -- ' - '; then
    ok "$run: pre-training row has numbers"
  else
    not_ok "$run: pre-training row has numbers" "$row"
  fi
  if [ -n "$pb" ] && ! echo "$pb" | cut -d'|' -f3,4 | grep -q -- ' - '; then
    ok "$run: phonebook row has a best lr and K=1 accuracy"
  else
    not_ok "$run: phonebook row has a best lr and K=1 accuracy" "$pb"
  fi
done
for png in phonebook_by_k learning_curve birdie_mixture pretrain_val_loss; do
  f=$tmp/docs/results-xs/$png.png
  if [ -f "$f" ] && [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
     [ "$(stat -c %s "$f")" -gt 5000 ]; then
    ok "$png.png is a PNG image"
  else
    not_ok "$png.png is a PNG image" "$(ls -l "$f" 2>&1)"
  fi
done
if [ "$(wc -l < "$tmp/docs/results-xs/mixture_birdie.dat" 2>/dev/null || echo 0)" -gt 2 ]; then
  ok "the Birdie run's mixture changed during pre-training (scheduler decisions in the store)"
else
  not_ok "the Birdie run's mixture changed during pre-training (scheduler decisions in the store)"
fi
again=$(bash "$root/deploy/run-matrix.sh" xs --out "$tmp/m" 2>&1)
if echo "$again" | grep -q "pre-trained already" && ! echo "$again" | grep -q "fine-tuning on\|evaluating the"; then
  ok "a second run reuses every result"
else
  not_ok "a second run reuses every result" "$(echo "$again" | head -20)"
fi
echo "1..$n"
exit $((failed > 0))
