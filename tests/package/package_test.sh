#!/bin/sh
# SPDX-License-Identifier: MIT
# The Debian package, made from an already built tree:
#
#   package_test.sh BUILD_DIR SOURCE_DIR VERSION
#
# runs CPack's DEB generator on BUILD_DIR (its install rules, its built
# forkspawn: nothing is compiled), then checks the .deb: its name, its
# control fields (Depends from dpkg-shlibdeps), its files, the installed
# program (--version, check on an example) and lintian, which may report no
# error (E:) but those in lintian-allowlist beside this script, each with its
# reason. Warnings are printed, not failures. Needs dpkg-dev, file and
# lintian (scripts/setup --test). Everything happens in a scratch directory,
# removed at the end.
set -eu

[ $# -eq 3 ] || {
    echo "usage: package_test.sh BUILD_DIR SOURCE_DIR VERSION" >&2
    exit 2
}
build=$1
source=$2
version=$3
here=$(cd "$(dirname "$0")" && pwd)

failures=0
fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
}

for tool in cpack dpkg-deb dpkg-shlibdeps file lintian; do
    command -v "$tool" >/dev/null || {
        echo "package_test.sh: $tool is missing; run scripts/setup --test" >&2
        exit 1
    }
done

scratch=$(mktemp -d "${TMPDIR:-/tmp}/forkspawn-package-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# CPack makes the tree's preinstall target first (its `all`): nothing to do
# in the built tree ctest runs in.
if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$scratch/out" \
    >"$scratch/cpack.log" 2>&1; then
    cat "$scratch/cpack.log"
    echo "FAIL cpack -G DEB failed"
    exit 1
fi

arch=$(dpkg --print-architecture)
deb="$scratch/out/forkspawn_${version}_${arch}.deb"
if [ ! -f "$deb" ]; then
    cat "$scratch/cpack.log"
    echo "FAIL no $(basename "$deb"); made: $(ls "$scratch/out")"
    exit 1
fi
echo "package: $(basename "$deb") ($(wc -c <"$deb") bytes)"

# Control fields.
dpkg-deb -f "$deb" >"$scratch/control" || fail "dpkg-deb -f cannot read the package"
field() { sed -n "s/^$1: //p" "$scratch/control"; }
[ "$(field Package)" = forkspawn ] || fail "Package is '$(field Package)', not forkspawn"
[ "$(field Version)" = "$version" ] || fail "Version is '$(field Version)', not $version"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture is '$(field Architecture)', not $arch"
[ "$(field Section)" = admin ] || fail "Section is '$(field Section)', not admin"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
depends=$(field Depends)
echo "Depends: $depends"
[ -n "$depends" ] || fail "Depends is empty (dpkg-shlibdeps did not run?)"
for lib in libc6 libfmt libre2; do
    case $depends in *"$lib"*) ;; *) fail "Depends does not name $lib" ;; esac
done
dpkg-deb -I "$deb" | grep -q '^ Description: ' || fail "no Description"

# Files.
dpkg -c "$deb" | awk '{ print $NF }' >"$scratch/files"
for f in ./usr/bin/forkspawn \
    ./usr/share/man/man1/forkspawn.1.gz \
    ./usr/share/bash-completion/completions/forkspawn \
    ./usr/share/zsh/vendor-completions/_forkspawn \
    ./usr/share/fish/vendor_completions.d/forkspawn.fish \
    ./usr/share/doc/forkspawn/copyright \
    ./usr/share/doc/forkspawn/changelog.gz; do
    grep -qx "$f" "$scratch/files" || fail "$f is not in the package"
done
if grep -v -e '^\./$' -e '^\./usr/' "$scratch/files" | grep -q .; then
    fail "files outside /usr: $(grep -v -e '^\./$' -e '^\./usr/' "$scratch/files" | tr '\n' ' ')"
fi

# The installed program.
dpkg -x "$deb" "$scratch/root"
bin="$scratch/root/usr/bin/forkspawn"
out=$("$bin" --version) || fail "forkspawn --version exited $?"
[ "$out" = "forkspawn $version" ] || fail "forkspawn --version printed '$out'"
"$bin" check "$source/examples/hello.json" >"$scratch/check.out" 2>&1 ||
    fail "forkspawn check examples/hello.json: $(cat "$scratch/check.out")"
"$bin" schema | grep -q '"\$schema"' || fail "forkspawn schema printed no schema"
gzip -t "$scratch/root/usr/share/man/man1/forkspawn.1.gz" || fail "the man page is not gzip"
zcat "$scratch/root/usr/share/man/man1/forkspawn.1.gz" | grep -q '^\.TH FORKSPAWN 1' ||
    fail "the man page has no .TH line"
grep -q '^License: Expat' "$scratch/root/usr/share/doc/forkspawn/copyright" ||
    fail "copyright is not in Debian's format"

# lintian: errors fail unless allowed; everything is shown.
lintian --display-info --tag-display-limit 0 "$deb" >"$scratch/lintian" 2>&1 || true
allowlist="$here/lintian-allowlist"
allowed=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$allowlist" | awk '{ print $1 }')
unexplained=$(sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' "$allowlist" | grep -v '#.*[^[:space:]]' || true)
[ -z "$unexplained" ] || fail "lintian-allowlist entries without a reason: $unexplained"
echo "lintian:"
if [ -s "$scratch/lintian" ]; then
    grep -v '^N: ' "$scratch/lintian" | sed 's/^/  /'
else
    echo "  (nothing)"
fi
errors=$(grep '^E: ' "$scratch/lintian" | awk '{ print $3 }' | sort -u)
for tag in $errors; do
    if printf '%s\n' "$allowed" | grep -qx "$tag"; then
        echo "lintian error $tag is allowed (tests/package/lintian-allowlist)"
    else
        fail "lintian error $tag (allow it in tests/package/lintian-allowlist with a reason, or fix it)"
    fi
done

if [ "$failures" -ne 0 ]; then
    echo "package_test.sh: $failures failures"
    exit 1
fi
echo "package_test.sh: the package is good"
