#!/usr/bin/env bash
# Builds the virtd RPM from a commit of this checkout and prints the RPM's path.
#
#   packaging/rpm/build.sh [-o TOPDIR] [TREE-ISH]
#
# TREE-ISH (default HEAD) is what gets packaged: sources, spec and version all
# come from it, so uncommitted edits are not in the RPM. TOPDIR is rpmbuild's
# work directory (default: a new temporary one, left for inspection).
# --nodeps: on Debian the rpm database is empty, so BuildRequires cannot be met.
set -euo pipefail

topdir=
while getopts o: opt; do
  case $opt in
    o) topdir=$OPTARG ;;
    *) echo "usage: $0 [-o TOPDIR] [TREE-ISH]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
treeish=${1:-HEAD}

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
version=$(git -C "$repo" show "$treeish:pyproject.toml" |
  python3 -c 'import sys, tomllib; print(tomllib.load(sys.stdin.buffer)["project"]["version"])')
topdir=$(realpath "${topdir:-$(mktemp -d -t virtd-rpm.XXXXXX)}")
mkdir -p "$topdir/SOURCES" "$topdir/SPECS"

git -C "$repo" archive --format=tar.gz --prefix="virtd-$version/" \
  -o "$topdir/SOURCES/virtd-$version.tar.gz" "$treeish"
git -C "$repo" show "$treeish:packaging/rpm/virtd.spec" > "$topdir/SPECS/virtd.spec"

rpmbuild -bb --nodeps --define "_topdir $topdir" --define "virtd_version $version" \
  "$topdir/SPECS/virtd.spec" >&2

find "$topdir/RPMS" -name "virtd-$version-*.rpm"
