# shellcheck shell=bash
# Shared helpers for the kind path (sourced by up.sh and down.sh): step banners, a failure trap
# that names the step that failed, and the prerequisite check.

# The step currently running; the ERR trap prints it so a failure says what broke, not just
# the exit code of some command deep inside.
CURRENT_STEP="starting"

step() {
  CURRENT_STEP="$1"
  printf '\n\033[1m==> %s\033[0m\n' "$1"
}

on_error() {
  local rc=$?
  printf '\n\033[31mFAILED during step: %s (exit %s)\033[0m\n' "$CURRENT_STEP" "$rc" >&2
  printf 'Fix the cause above and re-run the same command: every step is idempotent.\n' >&2
  exit "$rc"
}

# require_tools NAME... — exits listing every missing tool at once (with where to get it), so a
# user installs them in one go instead of discovering them one failure at a time.
require_tools() {
  local missing=()
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]} > 0)); then
    printf '\033[31mMissing prerequisites: %s\033[0m\n' "${missing[*]}" >&2
    for tool in "${missing[@]}"; do
      case "$tool" in
        docker) echo "  docker   https://docs.docker.com/engine/install/ (the daemon must be running)" >&2 ;;
        kind) echo "  kind     https://kind.sigs.k8s.io/docs/user/quick-start/#installation (v0.30+ for Kubernetes 1.34)" >&2 ;;
        kubectl) echo "  kubectl  https://kubernetes.io/docs/tasks/tools/ (or: make tools, then add .tools/bin to PATH)" >&2 ;;
        helm) echo "  helm     https://helm.sh/docs/intro/install/ (or: make tools, then add .tools/bin to PATH)" >&2 ;;
        k6) echo "  k6       https://grafana.com/docs/k6/latest/set-up/install-k6/ (v0.57+ runs the TypeScript scenarios)" >&2 ;;
        *) echo "  $tool" >&2 ;;
      esac
    done
    exit 1
  fi
}
