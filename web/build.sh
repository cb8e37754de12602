#!/usr/bin/env bash
# Builds the dashboard's assets: installs the pinned npm packages (package-lock.json) and
# copies uPlot's ES module and stylesheet into web/vendor/, which simmimd serves with the
# rest of web/. Nothing is fetched at run time, so the dashboard works offline.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
mkdir -p vendor
cp node_modules/uplot/dist/uPlot.esm.js vendor/uPlot.esm.js
cp node_modules/uplot/dist/uPlot.min.css vendor/uPlot.min.css
cp node_modules/uplot/LICENSE vendor/uPlot.LICENSE
