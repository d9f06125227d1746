package media

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/pion/webrtc/v4"
)

// Ogg page layout (RFC 3533 section 6), little endian:
//
//	 0  "OggS"
//	 4  version (0)
//	 5  header type: 0x01 continued packet, 0x02 first page, 0x04 last page
//	 6  granule position  u64
//	14  stream serial     u32
//	18  page sequence     u32
//	22  CRC-32            u32
//	26  segment count n
//	27  n lacing values; a value below 255 ends a packet
//	27+n  segment data
const oggPageHeaderSize = 27

// ParseOggOpus checks that b is an Ogg file whose first logical stream is
// Opus, and splits that stream into Opus packets, each lasting what its TOC
// byte says (RFC 6716 section 3.1). Pages of other logical streams are
// ignored. Pages are checked against their CRC.
func ParseOggOpus(b []byte) (*Clip, error) {
	if len(b) < 4 || string(b[:4]) != "OggS" {
		return nil, fmt.Errorf("%w (no OggS signature)", ErrNotOggOpus)
	}
	var (
		serial  uint32
		packets [][]byte
		partial []byte // a packet continuing on the next page
		cont    bool   // partial is non-empty or ended on a 255 lacing value
	)
	for off, page := 0, 0; off < len(b); page++ {
		if len(b)-off < oggPageHeaderSize {
			return nil, fmt.Errorf("Ogg page %d header: %w", page, ErrTruncated)
		}
		h := b[off:]
		if string(h[:4]) != "OggS" || h[4] != 0 {
			return nil, fmt.Errorf("%w (bad page %d at byte %d)", ErrNotOggOpus, page, off)
		}
		nseg := int(h[26])
		if len(h) < oggPageHeaderSize+nseg {
			return nil, fmt.Errorf("Ogg page %d lacing: %w", page, ErrTruncated)
		}
		lacing := h[oggPageHeaderSize : oggPageHeaderSize+nseg]
		size := 0
		for _, l := range lacing {
			size += int(l)
		}
		pageLen := oggPageHeaderSize + nseg + size
		if len(h) < pageLen {
			return nil, fmt.Errorf("Ogg page %d data: %w", page, ErrTruncated)
		}
		if got, want := oggCRC(h[:pageLen]), binary.LittleEndian.Uint32(h[22:26]); got != want {
			return nil, fmt.Errorf("%w (page %d fails its checksum)", ErrNotOggOpus, page)
		}
		off += pageLen
		pageSerial := binary.LittleEndian.Uint32(h[14:18])
		if page == 0 {
			serial = pageSerial
		} else if pageSerial != serial {
			continue
		}
		continued := h[5]&0x01 != 0
		if !continued && cont {
			// The previous packet never ended; drop it.
			partial, cont = nil, false
		}
		// The tail of a packet whose start we did not see is dropped.
		orphan := continued && !cont
		data := h[oggPageHeaderSize+nseg : pageLen]
		for _, l := range lacing {
			seg := data[:l]
			data = data[l:]
			if orphan {
				orphan = l == 255
				continue
			}
			partial = append(partial, seg...)
			cont = true
			if l < 255 {
				packets = append(packets, partial)
				partial, cont = nil, false
			}
		}
	}

	if len(packets) < 2 || len(packets[0]) < 19 || string(packets[0][:8]) != "OpusHead" {
		return nil, fmt.Errorf("%w (first packet is not OpusHead)", ErrNotOggOpus)
	}
	head := packets[0]
	if string(packets[1][:min(8, len(packets[1]))]) != "OpusTags" {
		return nil, fmt.Errorf("%w (second packet is not OpusTags)", ErrNotOggOpus)
	}
	clip := &Clip{
		Codec:      webrtc.MimeTypeOpus,
		Channels:   int(head[9]),
		SampleRate: int(binary.LittleEndian.Uint32(head[12:16])),
	}
	if head[8]>>4 != 0 {
		return nil, fmt.Errorf("%w (OpusHead version %d)", ErrNotOggOpus, head[8])
	}
	if clip.Channels < 1 || clip.Channels > 2 {
		// WebRTC's opus/48000/2 carries mono or stereo only.
		return nil, fmt.Errorf("%w (%d channels; WebRTC sends mono or stereo)", ErrNotOggOpus, clip.Channels)
	}
	for i, p := range packets[2:] {
		d, err := opusPacketDuration(p)
		if err != nil {
			return nil, fmt.Errorf("Opus packet %d: %w", i, err)
		}
		if d == 0 {
			continue // an empty packet: nothing to send
		}
		clip.Frames = append(clip.Frames, Frame{Data: p, Duration: d})
	}
	if len(clip.Frames) == 0 {
		return nil, fmt.Errorf("Ogg Opus: %w", ErrEmptyClip)
	}
	return clip, nil
}

// opusPacketDuration returns how long an Opus packet plays, from its TOC
// byte (RFC 6716 section 3.1). An empty packet lasts zero.
func opusPacketDuration(p []byte) (time.Duration, error) {
	if len(p) == 0 {
		return 0, nil
	}
	toc := p[0]
	config := toc >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // Hybrid: 10, 20 ms
		frame = [2]time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	var n int
	switch toc & 3 {
	case 0:
		n = 1
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0, fmt.Errorf("%w (code 3 packet without frame count)", ErrNotOggOpus)
		}
		n = int(p[1] & 0x3f)
	}
	d := time.Duration(n) * frame
	if n == 0 || d > 120*time.Millisecond {
		return 0, fmt.Errorf("%w (bad frame count %d)", ErrNotOggOpus, n)
	}
	return d, nil
}

// oggCRCTable is the CRC-32 of Ogg: polynomial 0x04c11db7, not reflected,
// initial value 0.
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04c11db7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC returns the checksum of a whole page, counting its CRC field as
// zero.
func oggCRC(page []byte) uint32 {
	var crc uint32
	for i, c := range page {
		if i >= 22 && i < 26 {
			c = 0
		}
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}
