#!/usr/bin/python3
"""A real RTSP server for tests: GStreamer's gst-rtsp-server through
python3-gi (Debian: gir1.2-gst-rtsp-server-1.0, python3-gi,
gstreamer1.0-plugins-base/-good/-ugly). fluo never links GStreamer: this
is a test peer only.

Serves /test: a videotestsrc pattern (320x240, 30 fps, H.264 constrained
baseline from x264enc, a key frame every second, rtph264pay pt=96
config-interval=1) and a 440 Hz tone (PCMU, 8 kHz, 20 ms packets, pt=0).
Each client gets its own pipeline (timestamps start afresh).

    rtsp_server.py [--port N] [--protocols udp|tcp|both]
                   [--auth basic|digest --user U --password P]
                   [--duration S]

--port 0 (the default) picks a free port. Once listening it prints
"PORT <n>" on a line of its own on stdout. --duration stops the server
after S seconds (a safety net for tests that die). SIGTERM and SIGINT stop
it too."""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

LAUNCH = (
    "( videotestsrc is-live=true pattern=smpte "
    "! video/x-raw,width=320,height=240,framerate=30/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bframes=0 "
    "! video/x-h264,profile=constrained-baseline "
    "! rtph264pay name=pay0 pt=96 config-interval=1 "
    "audiotestsrc is-live=true wave=sine freq=440 samplesperbuffer=160 "
    "! audio/x-raw,rate=8000,channels=1 ! mulawenc "
    "! rtppcmupay name=pay1 pt=0 )"
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--protocols", choices=["udp", "tcp", "both"], default="both")
    ap.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    ap.add_argument("--user", default="user")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--duration", type=float, default=0)
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(LAUNCH)
    factory.set_shared(False)
    trans = GstRtsp.RTSPLowerTrans
    protos = {
        "udp": trans.UDP,
        "tcp": trans.TCP,
        "both": trans.UDP | trans.TCP,
    }[args.protocols]
    factory.set_protocols(protos)

    if args.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if args.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        else:
            auth.add_digest(args.user, args.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role_from_structure(
            Gst.Structure.new_from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )
        factory.set_permissions(perms)

    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print("rtsp_server: cannot listen on port %d" % args.port, file=sys.stderr)
        return 1
    print("PORT %d" % server.get_bound_port(), flush=True)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    if args.duration > 0:
        GLib.timeout_add(int(args.duration * 1000), loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
