#!/usr/bin/env bash
# One entry point for people and CI. Creates .venv and installs jitflow with its
# test tools when missing (or when pyproject.toml changed), then runs the task.
#   ./dev.sh demo    the whole flow, locally (moto + a fake GitHub + a throwaway git repo)
#   ./dev.sh test    lint, type checks, workflow/template checks and the test suite (what CI runs)
set -euo pipefail
cd "$(dirname "$0")"
VENV=".venv"

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    local stamp
    stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e '.[test]'
        touch "$stamp"
    fi
}

run_tests() {
    local bin="$VENV/bin"
    echo "== ruff"; "$bin/ruff" check jitflow testing tests tools bench
    echo "== mypy"; "$bin/mypy"
    echo "== import contracts"; "$bin/lint-imports" --no-cache
    if [ -d .github/workflows ] && ls .github/workflows/*.yml >/dev/null 2>&1; then
        echo "== zizmor (auditor persona)"; "$bin/zizmor" --offline --no-progress --persona auditor --strict-collection .github/workflows
        echo "== workflow schema"
        "$bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
    fi
    if [ -f bootstrap/jitflow.yaml ]; then
        echo "== cfn-lint"; "$bin/cfn-lint" bootstrap/*.yaml
    fi
    if [ -f .github/CODEOWNERS ]; then
        echo "== codeowners"; "$bin/jitflow" codeowners --check
    fi
    echo "== jitflow validate requests/"; "$bin/jitflow" validate requests/
    echo "== pytest"; "$bin/python" -m pytest "$@"
}

task="${1:-}"
shift || true
case "$task" in
    demo) ensure_venv; exec "$VENV/bin/jitflow" demo "$@" ;;
    test) ensure_venv; run_tests "$@" ;;
    *) echo "usage: ./dev.sh demo|test [args]" >&2; exit 2 ;;
esac
