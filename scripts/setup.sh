#!/usr/bin/env bash
# One-time machine setup for convscope, safe to run again (it skips what is present).
#  - Mesa 25 lavapipe (software Vulkan) from bookworm-backports: Dawn rejects
#    bookworm's own Mesa 22 ("shaderUniform*ArrayDynamicIndexing required").
#  - Debian's chromium for the browser tests (never a downloaded browser).
#  - Debian's python3-pil: the tests decode photos with PIL (libjpeg-turbo) to
#    prove our decoded pixels equal the ones Keras' load_img sees.
#  - npm dependencies from package-lock.json.
set -euo pipefail
quiet=0; [ "${1:-}" = "--quiet" ] && quiet=1
say() { [ $quiet = 1 ] || echo "[setup] $*"; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need_apt=()
lvp_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
case "$(lvp_version)" in
  25.*|26.*|27.*) ;;
  *) need_apt+=(mesa) ;;
esac
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
/usr/bin/python3 -c 'import PIL' >/dev/null 2>&1 || need_apt+=(pil)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "[setup] missing system packages (${need_apt[*]}); run 'bash scripts/setup.sh' as root once" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f /etc/apt/sources.list.d/convscope-backports.sources ]; then
    say "adding the bookworm-backports suite for Mesa 25"
    cat > /etc/apt/sources.list.d/convscope-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  say "apt-get update"
  apt-get update -qq >/dev/null
  for p in "${need_apt[@]}"; do
    case $p in
      mesa) say "installing Mesa 25 lavapipe (software Vulkan)"
            apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null ;;
      chromium) say "installing Debian chromium"
            apt-get install -y -qq chromium >/dev/null ;;
      pil) say "installing Debian python3-pil (PIL, for the image decoding tests)"
            apt-get install -y -qq python3-pil >/dev/null ;;
    esac
  done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
say "ready: $(dpkg-query -W -f='mesa-vulkan-drivers ${Version}' mesa-vulkan-drivers), $(chromium --version 2>/dev/null | head -1), PIL $(/usr/bin/python3 -c 'import PIL; print(PIL.__version__)')"
