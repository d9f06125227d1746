#!/bin/sh
# gen-clips.sh regenerates the test clips that `peercall join` sends by
# default and that internal/media embeds:
#
#   internal/media/clips/testsrc.ivf  VP8 in IVF, 640x360, 15 fps, 3 s,
#                                     a keyframe every 15 frames (1 s)
#   internal/media/clips/tone.ogg     Opus in Ogg, 48 kHz mono, 440 Hz sine,
#                                     3 s, 20 ms frames, one packet per page
#
# The clips loop, so a browser joining mid-loop waits at most 1 s for a
# keyframe. Outputs are reproducible with the same ffmpeg/libvpx/libopus
# build (Debian 12: ffmpeg 5.1, libvpx 1.12, libopus 1.3): everything is
# single-threaded and muxed with the bitexact flags, and the sources are
# deterministic (testsrc2 and sine have no randomness).
#
# Usage: scripts/gen-clips.sh [ffmpeg binary]   (default /usr/bin/ffmpeg)
set -eu

FFMPEG=${1:-/usr/bin/ffmpeg}
cd "$(dirname "$0")/.."
OUT=internal/media/clips
mkdir -p "$OUT"

# Video: testsrc2 has a moving square and a running frame counter, so a
# frozen stream is visible at a glance. Realtime libvpx without lag or
# alt-ref frames gives one IVF frame per displayed frame, as WebRTC sends.
"$FFMPEG" -hide_banner -loglevel error -y \
	-f lavfi -i "testsrc2=size=640x360:rate=15:duration=3" \
	-an -pix_fmt yuv420p \
	-c:v libvpx -deadline realtime -cpu-used 8 -threads 1 \
	-b:v 300k -maxrate 300k -minrate 300k -bufsize 300k \
	-g 15 -keyint_min 15 -lag-in-frames 0 -auto-alt-ref 0 \
	-flags:v +bitexact -fflags +bitexact \
	-f ivf "$OUT/testsrc.ivf"

# Audio: a 440 Hz tone at -20 dBFS-ish (sine's default amplitude is 1/8).
"$FFMPEG" -hide_banner -loglevel error -y \
	-f lavfi -i "sine=frequency=440:sample_rate=48000:duration=3" \
	-vn -ac 1 -ar 48000 \
	-c:a libopus -b:a 32k -vbr off -application audio -frame_duration 20 \
	-page_duration 20000 \
	-flags:a +bitexact -fflags +bitexact \
	-f ogg "$OUT/tone.ogg"

ls -l "$OUT"
