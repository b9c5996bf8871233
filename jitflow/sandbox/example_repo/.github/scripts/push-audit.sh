#!/usr/bin/env bash
# Push the audit commit(s) that `jitflow apply --commit` / `jitflow revoke --commit` made on the
# audit branch (jitflow.yaml's audit_branch, `jitflow-audit` by default), never the default
# branch: the workflows run this in the audit branch's own checkout (JITFLOW_AUDIT_REPO), and
# push with the job's GITHUB_TOKEN, which the default branch's ruleset lets change nothing.
#
# Pushes HEAD to the branch the checkout has checked out. When that branch moved meanwhile
# (another apply/revoke run), it rebases with `git pull --rebase` and tries again, a bounded
# number of times. The audit files are append-only and each run adds new lines, so a rebase
# conflict means a bug (two writers of the same record): the rebase is aborted and the step
# fails loudly, leaving the commit unpushed rather than merged by guesswork. A branch that
# appeared meanwhile with a history unrelated to ours is refused the same way.
#
# Works against any remote (the demo pushes to a bare repository on disk with no token).
# Credentials never touch .git/config: when a token is available it is handed to git through
# GIT_CONFIG_* environment variables of this process only, scoped to the GitHub server URL.
#
# Environment (all optional):
#   JITFLOW_AUDIT_REPO         the audit branch's checkout to push (default: the current
#                              directory); when it does not exist, nothing was recorded
#   JITFLOW_PUSH_BRANCH        branch to push to (default: the checkout's current branch;
#                              never GITHUB_REF_NAME, the branch the workflow runs on)
#   JITFLOW_PUSH_REMOTE        remote name (default: origin)
#   JITFLOW_PUSH_ATTEMPTS      push attempts before giving up (default: 5)
#   GITHUB_TOKEN               the token to push with: the job's Actions token (contents:
#                              write in the apply and revoke jobs; no other token is read)
#   GITHUB_SERVER_URL          the server the token is for (default: https://github.com)
set -euo pipefail

title="jitflow audit push"

in_actions() { [ "${GITHUB_ACTIONS:-}" = "true" ]; }

fail() {
    # $1: one-line reason; further lines go to the log and the job summary.
    local reason="$1"
    shift
    if in_actions; then
        echo "::error title=${title}::${reason}"
    fi
    {
        echo "${title}: FAILED: ${reason}"
        local line
        for line in "$@"; do echo "  ${line}"; done
    } >&2
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        {
            echo "### ${title} failed"
            echo
            echo "${reason}"
            echo
            local line
            for line in "$@"; do echo "- ${line}"; done
        } >>"${GITHUB_STEP_SUMMARY}" || true
    fi
    exit 1
}

note() { echo "${title}: $*"; }

rebase_in_progress() {
    local git_dir
    git_dir="$(git rev-parse --git-dir)"
    [ -d "${git_dir}/rebase-merge" ] || [ -d "${git_dir}/rebase-apply" ]
}

if [ -n "${JITFLOW_AUDIT_REPO:-}" ]; then
    if [ ! -d "${JITFLOW_AUDIT_REPO}" ]; then
        # jitflow creates the checkout before it changes anything: no checkout, no record.
        note "no audit branch checkout at ${JITFLOW_AUDIT_REPO}: nothing was recorded, nothing to push"
        exit 0
    fi
    cd "${JITFLOW_AUDIT_REPO}"
fi

remote="${JITFLOW_PUSH_REMOTE:-origin}"
attempts="${JITFLOW_PUSH_ATTEMPTS:-5}"
case "${attempts}" in
    '' | *[!0-9]* | 0) fail "JITFLOW_PUSH_ATTEMPTS must be a positive whole number, not '${attempts}'" ;;
esac

git rev-parse --git-dir >/dev/null 2>&1 || fail "not inside a git repository: $(pwd)"
git remote get-url "${remote}" >/dev/null 2>&1 || fail "no git remote named '${remote}'"

branch="${JITFLOW_PUSH_BRANCH:-}"
if [ -z "${branch}" ]; then
    branch="$(git symbolic-ref --quiet --short HEAD || true)"
fi
[ -n "${branch}" ] || fail "cannot tell which branch to push to (detached HEAD); set JITFLOW_PUSH_BRANCH"
if ! git rev-parse --verify --quiet HEAD >/dev/null; then
    note "nothing to push: the new audit branch ${branch} has no commit yet"
    exit 0
fi
git check-ref-format --branch "${branch}" >/dev/null 2>&1 || fail "not a valid branch name: '${branch}'"

if ! git diff --quiet || ! git diff --cached --quiet; then
    fail "the working tree has uncommitted changes to tracked files" \
        "jitflow --commit should have committed everything it wrote; refusing to push a partial record." \
        "$(git status --short | head -20)"
fi

# --- credentials (only for an https remote on the GitHub server; never written to disk) -----
token="${GITHUB_TOKEN:-}"
if [ -n "${token}" ]; then
    server="${GITHUB_SERVER_URL:-https://github.com}"
    basic="$(printf 'x-access-token:%s' "${token}" | base64 | tr -d '\n')"
    if in_actions; then echo "::add-mask::${basic}"; fi
    n="${GIT_CONFIG_COUNT:-0}"
    # An empty value first clears any extra header configured elsewhere for this URL, so git
    # sends exactly one Authorization header.
    export "GIT_CONFIG_KEY_${n}=http.${server}/.extraheader"
    export "GIT_CONFIG_VALUE_${n}="
    export "GIT_CONFIG_KEY_$((n + 1))=http.${server}/.extraheader"
    export "GIT_CONFIG_VALUE_$((n + 1))=AUTHORIZATION: basic ${basic}"
    export GIT_CONFIG_COUNT=$((n + 2))
fi
unset token basic

# A rebase rewrites commits and needs a committer; keep the authors as they are.
if [ -z "${GIT_COMMITTER_EMAIL:-}" ] && ! git config user.email >/dev/null 2>&1; then
    export GIT_COMMITTER_NAME="github-actions[bot]"
    export GIT_COMMITTER_EMAIL="41898282+github-actions[bot]@users.noreply.github.com"
fi

# --- push, rebasing on a non-fast-forward ---------------------------------------------------
errors="$(mktemp)"
trap 'rm -f "${errors}"' EXIT

for attempt in $(seq 1 "${attempts}"); do
    if git push --quiet "${remote}" "HEAD:refs/heads/${branch}" 2>"${errors}"; then
        note "pushed $(git rev-parse --short HEAD) to ${remote}/${branch}"
        exit 0
    fi
    cat "${errors}" >&2

    if grep -Eqi 'protected branch|GH006|GH013|repository rule violations' "${errors}"; then
        fail "the push to ${branch} was refused by branch protection or a ruleset" \
            "The audit branch's ruleset must allow appends by the workflows' GITHUB_TOKEN: see docs/setup.md, \"6. The audit branch\"." \
            "The AWS change stands; its audit record is in the unpushed commit $(git rev-parse HEAD)," \
            "and the next jitflow revoke run records an unrecorded grant as reconciled."
    fi

    git fetch --quiet "${remote}" "refs/heads/${branch}" ||
        fail "the push failed and the branch ${branch} could not be fetched from ${remote}"
    if ! git merge-base HEAD FETCH_HEAD >/dev/null; then
        fail "${remote}/${branch} has a history unrelated to this audit commit" \
            "The branch appeared while this run created it (two first runs?), or it was replaced." \
            "Nothing was pushed. The unpushed commit is $(git rev-parse HEAD); compare the two logs" \
            "with jitflow audit verify before adding anything to ${branch} by hand."
    fi
    if git merge-base --is-ancestor HEAD FETCH_HEAD; then
        note "nothing to push: ${remote}/${branch} already contains $(git rev-parse --short HEAD)"
        exit 0
    fi
    if git merge-base --is-ancestor FETCH_HEAD HEAD; then
        # The branch has not moved, so this was not a race: say what git said and stop.
        fail "git push to ${remote}/${branch} failed (not a non-fast-forward); see the log above"
    fi

    if [ "${attempt}" -ge "${attempts}" ]; then
        break
    fi
    note "${remote}/${branch} moved on; rebasing the audit commit onto it (attempt ${attempt} of ${attempts})"
    if ! git pull --quiet --rebase --no-autostash "${remote}" "${branch}"; then
        conflicted="$(git diff --name-only --diff-filter=U 2>/dev/null | head -20 || true)"
        if rebase_in_progress; then
            git rebase --abort || true
        fi
        fail "rebase conflict while rebasing the audit commit onto ${remote}/${branch}" \
            "Audit files are append-only, so a conflict means two runs wrote the same record: a bug." \
            "The rebase was aborted; nothing was pushed. The unpushed commit is $(git rev-parse HEAD)." \
            "Conflicting files: ${conflicted:-unknown}" \
            "Resolve by hand, then check the log with: jitflow audit verify"
    fi
    # back off a little when the branch keeps moving (the first retry goes at once)
    sleep "$((attempt - 1))"
done

fail "gave up after ${attempts} attempts: ${remote}/${branch} kept moving" \
    "The unpushed commit is $(git rev-parse HEAD); rerun this workflow to push it."
