#!/usr/bin/env bash
# Regenerates everything under docs/paper-reanalysis/ from the paper authors' stored results.
# Usage (from the repository root): docs/paper-reanalysis/regenerate.sh [AUTHORS_DIR] [WORK_DIR]
#   AUTHORS_DIR: the authors' .npz files, named as in data/paper-results/README.md
#                (default data/paper-results, the copy this repository carries)
#   WORK_DIR:    where the imported results folders go (default /tmp/paper-reanalysis)
set -euo pipefail
authors=${1:-data/paper-results}
work=${2:-/tmp/paper-reanalysis}
docs=docs/paper-reanalysis
initlab=${INITLAB:-initlab}
python=${PYTHON:-python}
mkdir -p "$work" "$docs"

# file stem : preset : band : first epoch drawn (the paper's figures: Fig. 2 range from
# epoch 5, Fig. 4 IQR from epoch 25, Fig. 5 range from epoch 25)
tables=(
  "table1-16px:table1-16:minmax:5"
  "table1-32px:table1-32:minmax:5"
  "table1-64px:table1-64:minmax:5"
  "table4-cifar10:table4-cifar10:iqr:25"
  "table5-mobilenet-v2:table5-mnv2:minmax:25"
  "table5-mobilenet-v3-small:table5-mnv3s:minmax:25"
)
folders=()
for entry in "${tables[@]}"; do
  IFS=: read -r stem preset band from <<<"$entry"
  out="$work/$stem"
  rm -rf "$out"
  "$initlab" import "$authors/$stem.npz" --preset "$preset" --out "$out"
  "$initlab" report "$out" > "$docs/$stem-report.md"
  "$initlab" report "$out" --select paper --format csv > "$docs/$stem-paper.csv"
  "$initlab" report "$out" --figures "$docs/$stem" --band "$band" --from-epoch "$from" > /dev/null
  rm -f "$docs/$stem"/*.svg  # PNG is enough for the page; SVG on request
  folders+=("$out")
done
"$python" -m core.paper.printed_figures "${folders[@]}" > "$docs/printed-figures.md" || true
"$python" -m core.stats.power "${folders[@]}" > "$docs/sample-size.md"
