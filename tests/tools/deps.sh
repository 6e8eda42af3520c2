#!/bin/sh
# Installs what the build and the tests need, only when missing.
set -e
# chromium: the browser side of the WebRTC interop tests (driven by the npm
# playwright-core in tests/interop, which never downloads a browser of its own).
# ffmpeg: the busy camera clip of tests/interop/net (lib/quality.js), and with
# mkvtoolnix (mkvinfo) the readers container/'s recordings are checked with.
# gir1.2-gst-rtsp-server-1.0, python3-gi and the GStreamer plugins: the RTSP
# test peer (tests/interop/lib/rtsp_server.py; x264enc is in -ugly).
# curl: the uploads of tests/interop/browser/http_post.
# libpng-dev, libjpeg-dev: overlay images; libzbar-dev: ZBarFilter; OpenCV's
# core, imgproc and objdetect with opencv-data's Haar cascades:
# FaceOverlayFilter. qrencode: the QR code clip of tests/interop/browser/filters.
PKGS="build-essential pkg-config clang clang-format libclang-rt-14-dev libuv1-dev libmbedtls-dev libjansson-dev
libcmocka-dev libsrtp2-dev libusrsctp-dev libssl-dev nodejs npm openssl procps iproute2 iptables coturn python3
chromium janus libvpx-dev libopus-dev libopenh264-dev libyuv-dev ffmpeg mkvtoolnix python3-gi gir1.2-gst-rtsp-server-1.0
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly curl
libpng-dev libjpeg-dev libzbar-dev libopencv-core-dev libopencv-imgproc-dev libopencv-objdetect-dev opencv-data qrencode"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# nodejs from another source may ship npm itself
if command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | sed 's/ npm\b//; s/ nodejs\b//')
fi
if [ -n "$(echo $missing)" ]; then
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $missing >/dev/null
fi
if [ -f tests/interop/package.json ]; then
    if [ ! -d tests/interop/node_modules ] || [ tests/interop/package.json -nt tests/interop/node_modules ]; then
        echo "deps: npm install in tests/interop"
        (cd tests/interop && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
        touch tests/interop/node_modules
    fi
fi
