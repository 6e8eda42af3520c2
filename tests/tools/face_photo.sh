#!/bin/sh
# Writes a photograph of a face to $1 (PNG, 512x512, a portrait of an
# astronaut facing the camera, her face about at x 175-275, y 60-180): the
# test photo that Debian's python3-skimage package ships, taken from the
# package file alone (apt-get download and dpkg-deb, nothing installed).
# Used by the face detection tests. Kept once fetched.
set -e
out=${1:?usage: face_photo.sh OUT.png}
[ -s "$out" ] && exit 0
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && apt-get download -qq python3-skimage >/dev/null 2>&1) || {
    apt-get update -qq && (cd "$dir" && apt-get download -qq python3-skimage >/dev/null)
}
dpkg-deb -x "$dir"/python3-skimage_*.deb "$dir/x"
mkdir -p "$(dirname "$out")"
cp "$dir/x/usr/lib/python3/dist-packages/skimage/data/astronaut.png" "$out.tmp"
mv "$out.tmp" "$out"
