#!/usr/bin/env bash
# Make sure `promtool` is on PATH for the monitoring kit's tests (monitoring/):
# installs Debian's `prometheus` package, which ships it, when it is missing.
# Recommends (node-exporter) are left out; on a machine with systemd the package
# also enables a Prometheus server on :9090.
set -euo pipefail
if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
echo "promtool not found: installing Debian's prometheus package (apt-get)" >&2
install=(apt-get install -y -qq --no-install-recommends prometheus)
if [ "$(id -u)" = 0 ]; then apt-get update -qq && "${install[@]}" >/dev/null
else sudo apt-get update -qq && sudo "${install[@]}" >/dev/null; fi
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool is still missing after installing prometheus" >&2
  exit 1
fi
