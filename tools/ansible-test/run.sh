#!/usr/bin/env bash
# ansible-test sanity and units for this collection. ansible-test needs the collection at
# ansible_collections/<namespace>/<name>, so it runs on a copy of the working tree.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${EKSD_CACHE:-$HOME/.cache/eksd}
root=$cache/ansible-test/ansible_collections/eksd/distro
py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

pip_version=$(python - <<'PY'
import re, ansible_test, pathlib
src = (pathlib.Path(ansible_test.__file__).parent / "_internal/python_requirements.py").read_text()
print(re.search(r"pip='([\d.]+)'", src).group(1))
PY
)
mkdir -p ~/.ansible/test/cache
install -m 0644 "$repo/tools/ansible-test/get_pip.py" ~/.ansible/test/cache/get_pip_"${pip_version//./_}".py

rm -rf "$root" && mkdir -p "$root"
(cd "$repo" && git ls-files -co --exclude-standard -z | grep -zvE '^(\.collections|tools|tests/integration|tests/fixtures)/' \
    | tar --null -T - -cf - | tar -C "$root" -xf -)

cd "$root"
ansible-test sanity --venv --requirements --python "$py" --color no "$@"
# The unit tests read real EKS-D data (tests/fixtures), kept byte for byte as published: sanity's
# yamllint has no say over them, so they join the copy only now.
cp -r "$repo/tests/fixtures" "$root/tests/fixtures"
ansible-test units --venv --requirements --python "$py" --color no
