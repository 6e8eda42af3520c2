/* fluo-bench: load generators and micro-benchmarks.
 *
 * Each subcommand is a function taking the arguments after its name and
 * returning the process exit status (0 success, 1 failure, 2 usage). Each
 * prints its result as one record on its last line of standard output. */
#ifndef FL_BENCH_H
#define FL_BENCH_H

#include <stdio.h>

/* `fluo-bench rpc --url ws://127.0.0.1:8888/kurento --clients 200 --calls 100
 * [--timeout SEC]`: concurrent Kurento Protocol clients on one libuv loop,
 * each sending --calls JSON-RPC requests one after another (ping, create
 * MediaPipeline, invoke getName, release). Last line:
 * `rpc clients=N calls=N ok=N errors=N calls_per_sec=X p50_ms=X p99_ms=X`. */
int fl_bench_rpc_run(int argc, char **argv);

/* Prints the rpc subcommand's options. */
void fl_bench_rpc_usage(FILE *out);

/* `fluo-bench parse [--iterations N]`: ns per ICE connectivity check
 * (STUN parse + MESSAGE-INTEGRITY + FINGERPRINT) against the bare HMAC-SHA1
 * in the same run, and ns per WebSocket frame. Last line:
 * `parse iterations=N stun_check_ns=X hmac_sha1_ns=X ws_frame_ns=X stun_check_over_hmac=R`. */
int fl_bench_parse_run(int argc, char **argv);
void fl_bench_parse_usage(FILE *out);

/* `fluo-bench srtp [--packets N] [--size 1200]`: ns per RTP packet for egress
 * copy + SRTP protect + unprotect through net/srtp on pooled buffers, against
 * bare libsrtp2 srtp_protect + srtp_unprotect on an array in the same run, for
 * AES-CM-80 and AES-GCM. Last line: `srtp size=N packets=N cm80_fluo_ns=X
 * cm80_libsrtp_ns=X gcm_fluo_ns=X gcm_libsrtp_ns=X overhead_ratio=R`
 * (fluo total / libsrtp total). */
int fl_bench_srtp_run(int argc, char **argv);
void fl_bench_srtp_usage(FILE *out);

/* `fluo-bench depack [--loops N]`: ns per RTP packet through net/jitter
 * (push, pop; every 50th packet reordered) and codec/depack (push, pull)
 * for the VP8 (640x480, 1.5 Mbit/s) and Opus clips, against one memcpy of
 * the same payloads in the same run. Last line: `depack vp8_packets=N
 * vp8_ns=X opus_ns=X copy_ns=X vp8_over_copy=R`. */
int fl_bench_depack_run(int argc, char **argv);
void fl_bench_depack_usage(FILE *out);

/* `fluo-bench echo|one2many|room --server fluo|janus|floor --sessions N
 * --seconds S`: WebRTC load (bench/bench_webrtc.c). argv[0] is the scenario;
 * prog is fluo-bench's own path (fluo is looked for beside it). */
int fl_bench_webrtc_run(const char *scenario, int argc, char **argv, const char *prog);
void fl_bench_webrtc_usage(FILE *out);

/* `fluo-bench join --server fluo [--joins N] [--seconds S] [--gop S]`: time
 * from a joining viewer's processOffer to its first complete VP8 key frame,
 * over N viewers joining a running broadcast (bench/bench_join.c). prog is
 * fluo-bench's own path. Last line: `join server=NAME joins=N ok=N
 * p50_ms=X p95_ms=X dtls_p50_ms=X key_after_dtls_p50_ms=X
 * key_after_dtls_p95_ms=X`. */
int fl_bench_join_run(int argc, char **argv, const char *prog);
void fl_bench_join_usage(FILE *out);

/* `fluo-bench churn --server fluo [--sessions N] [--seconds S]`: a soak of
 * one fluo under sessions joining and leaving with media, with its RSS and
 * open fds before, during and after (bench/bench_churn.c). prog is
 * fluo-bench's own path. Last line: `churn server=NAME sessions=N seconds=S
 * joined=N failed=N rss_start_kb=X rss_end_kb=X fds_start=N fds_end=N
 * rss_load_first_kb=X rss_load_last_kb=X`. */
int fl_bench_churn_run(int argc, char **argv, const char *prog);
void fl_bench_churn_usage(FILE *out);

/* `fluo-bench record --server fluo [--sessions N] [--seconds S]`: N
 * publishers on one fluo, first looped back to themselves, then each
 * recorded to a WebM file (bench/bench_record.c): fluo's CPU per recorded
 * packet against per forwarded packet in the same run, the bytes on disk
 * against the RTP payload bytes sent, every file checked with ffprobe (the
 * run fails unless all pass). prog is fluo-bench's own path. Last line:
 * `record server=NAME sessions=N cpu_us_per_pkt=X fwd_cpu_us_per_pkt=Y
 * ratio=Z disk_bytes_per_media_byte=W files_ok=N`. */
int fl_bench_record_run(int argc, char **argv, const char *prog);
void fl_bench_record_usage(FILE *out);

/* `fluo-bench play --server fluo [--sessions N] [--seconds S]`: N
 * PlayerEndpoints of one VP8+Opus WebM (made by ffmpeg, S + 2 s long) each
 * feeding a receive-only client through a WebRtcEndpoint, against N
 * publishers looped back to themselves in the same run on one fluo
 * (bench/bench_play.c): fluo's CPU per packet the clients received from the
 * players against per forwarded packet. Every client must get audio and
 * video at the file's frame rate and its player's EndOfStream at the file's
 * end (the run fails otherwise). prog is fluo-bench's own path. Last line:
 * `play server=NAME sessions=N cpu_us_per_pkt=X fwd_cpu_us_per_pkt=Y
 * ratio=Z clients_ok=N`. */
int fl_bench_play_run(int argc, char **argv, const char *prog);
void fl_bench_play_usage(FILE *out);

/* `fluo-bench transcode [--sessions 1] [--seconds 5] [--rounds 3]
 * [--max-sessions 16]`: in process, N sessions each transcoding VP8 640x480
 * 30 fps to H.264 and H.264 to VP8 through AppSource -> AppSink links
 * (bench/bench_transcode.c): fluo's CPU per transcoded frame against the
 * bare libvpx + openh264 decode and encode of the same frames in the same
 * run (paced as fluo gets them; and in a tight loop), over alternating
 * rounds (medians and ranges), then the most sessions held at full frame
 * rate. Last line: `transcode sessions=N rounds=R cpu_us_per_frame=X
 * bare_us_per_frame=Y ratio=Z ratio_min=A ratio_max=B ratio_tight_loop=C
 * max_sessions=M`. */
int fl_bench_transcode_run(int argc, char **argv);
void fl_bench_transcode_usage(FILE *out);

/* `fluo-bench composite [--inputs 4] [--seconds 5] [--rounds 3]`: in
 * process, a Composite of N VP8 640x480 30 fps inputs at 640x480 30 fps
 * (bench/bench_composite.c): fluo's CPU per output picture against the
 * bare decode + scale + encode of the same picture in the same run, over
 * alternating rounds. Last line: `composite inputs=N width=640 height=480
 * fps=30 rounds=R cpu_us_per_frame=X bare_us_per_frame=Y ratio=Z
 * ratio_min=A ratio_max=B out_fps=F`. */
int fl_bench_composite_run(int argc, char **argv);
void fl_bench_composite_usage(FILE *out);

/* `fluo-bench filter [--seconds 5] [--rounds 3] [--filters zbar,image,face]`:
 * in process, ZBarFilter, ImageOverlayFilter (addImage) and
 * FaceOverlayFilter (setOverlayedImage, on a clip of a face photo) each
 * between an AppSource pushing VP8 640x480 30 fps 1 Mbit/s and an AppSink
 * (bench/bench_filter.c): fluo's CPU per output picture against the bare
 * decode + encode of the same picture in the same run, over alternating
 * rounds; the run fails when an overlay draws nothing or ZBar encodes.
 * Last lines, one per filter: `filter name=TYPE width=640 height=480 fps=30
 * rounds=R cpu_us_per_frame=X bare_us_per_frame=Y ratio=Z ratio_min=A
 * ratio_max=B out_fps=F`. */
int fl_bench_filter_run(int argc, char **argv);
void fl_bench_filter_usage(FILE *out);

/* `fluo-bench idle --server fluo [--sessions 200] [--step 50] [--seconds 3]
 * [--media-seconds 0]`: fluo's RSS growth per idle connected
 * WebRtcEndpoint, over N echo calls brought to ICE+DTLS connected with no
 * media (bench/bench_idle.c), sampled every --step sessions; with
 * --media-seconds, again just after S seconds of media stopped. fluo is
 * looked for beside fluo-bench (/proc/self/exe). Last line: `idle
 * server=NAME sessions=N connected=N rss_base_kb=X rss_kb=X
 * kb_per_endpoint=X anon_kb_per_endpoint=X after_media_kb_per_endpoint=X`. */
int fl_bench_idle_run(int argc, char **argv);
void fl_bench_idle_usage(FILE *out);

#endif
