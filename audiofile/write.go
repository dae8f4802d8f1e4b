package audiofile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/amd-engine/amd/dsp"
)

// Writers for the fixture generator, the SIP test phone and tests. They
// produce plain, canonical files that sox, ffmpeg, Wireshark and this
// package's readers all accept.

// Encoding is the sample encoding WriteWAV uses.
type Encoding int

// WAV sample encodings.
const (
	PCM16 Encoding = iota // 16-bit signed little-endian PCM
	Mulaw                 // G.711 μ-law, 8 bits
	Alaw                  // G.711 A-law, 8 bits
)

// ErrWrite wraps argument errors of the writers.
var ErrWrite = errors.New("audiofile: invalid write")

// WriteWAV writes mono samples at rate as a RIFF/WAVE file. For G.711 the
// samples are compressed, and the fmt chunk carries cbSize plus a fact
// chunk, as the WAVE spec asks of non-PCM formats.
func WriteWAV(w io.Writer, samples []int16, rate int, enc Encoding) error {
	if rate <= 0 {
		return fmt.Errorf("%w: sample rate %d", ErrWrite, rate)
	}
	var (
		tag     uint16
		bits    uint16
		data    []byte
		fmtSize uint32 = 16
	)
	switch enc {
	case PCM16:
		tag, bits = wavTagPCM, 16
		data = make([]byte, 2*len(samples))
		for i, s := range samples {
			binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
		}
	case Mulaw, Alaw:
		tag, bits, fmtSize = wavTagMuLaw, 8, 18
		data = make([]byte, len(samples))
		if enc == Alaw {
			tag = wavTagALaw
			dsp.EncodeAlaw(data, samples)
		} else {
			dsp.EncodeMulaw(data, samples)
		}
	default:
		return fmt.Errorf("%w: encoding %d", ErrWrite, enc)
	}
	if int64(len(data)) > 0xFFFFFFFF-64 {
		return fmt.Errorf("%w: %d bytes of audio do not fit a WAV file", ErrWrite, len(data))
	}
	var hdr []byte
	le := binary.LittleEndian
	blockAlign := bits / 8
	hdr = append(hdr, "RIFF"...)
	hdr = le.AppendUint32(hdr, 0) // patched below
	hdr = append(hdr, "WAVE"...)
	hdr = append(hdr, "fmt "...)
	hdr = le.AppendUint32(hdr, fmtSize)
	hdr = le.AppendUint16(hdr, tag)
	hdr = le.AppendUint16(hdr, 1)
	hdr = le.AppendUint32(hdr, uint32(rate))
	hdr = le.AppendUint32(hdr, uint32(rate)*uint32(blockAlign))
	hdr = le.AppendUint16(hdr, blockAlign)
	hdr = le.AppendUint16(hdr, bits)
	if fmtSize == 18 {
		hdr = le.AppendUint16(hdr, 0) // cbSize
		hdr = append(hdr, "fact"...)
		hdr = le.AppendUint32(hdr, 4)
		hdr = le.AppendUint32(hdr, uint32(len(samples)))
	}
	hdr = append(hdr, "data"...)
	hdr = le.AppendUint32(hdr, uint32(len(data)))
	pad := len(data) & 1
	le.PutUint32(hdr[4:], uint32(len(hdr)-8+len(data)+pad))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if pad == 1 {
		if _, err := w.Write([]byte{0}); err != nil {
			return err
		}
	}
	return nil
}

// WriteOggOpus writes Opus packets (mono) as an Ogg Opus file (RFC 7845)
// with the given pre-skip in 48 kHz samples (encoders usually need 312; 0 is
// honoured as 0). Each packet goes on its own page; granule positions come
// from each packet's TOC, so the last one is pre-skip + the samples of all
// packets, i.e. the decoded length is the packets' duration minus pre-skip.
func WriteOggOpus(w io.Writer, packets [][]byte, preSkip int) error {
	if preSkip < 0 || preSkip > 0xFFFF {
		return fmt.Errorf("%w: pre-skip %d", ErrWrite, preSkip)
	}
	le := binary.LittleEndian
	head := []byte("OpusHead")
	head = append(head, 1, 1) // version, channels
	head = le.AppendUint16(head, uint16(preSkip))
	head = le.AppendUint32(head, dsp.SampleRate) // input rate, informational
	head = le.AppendUint16(head, 0)              // output gain
	head = append(head, 0)                       // mapping family 0
	const vendor = "amd-engine audiofile"
	tags := []byte("OpusTags")
	tags = le.AppendUint32(tags, uint32(len(vendor)))
	tags = append(tags, vendor...)
	tags = le.AppendUint32(tags, 0) // no user comments

	const serial = 0x414d4431 // "AMD1"
	ow := &oggPageWriter{w: w, serial: serial}
	if err := ow.page(head, 0x02, 0); err != nil {
		return err
	}
	if err := ow.page(tags, 0, 0); err != nil {
		return err
	}
	granule := uint64(0)
	for i, p := range packets {
		n, err := dsp.OpusPacketSamples(p)
		if err != nil {
			return fmt.Errorf("%w: packet %d: %w", ErrWrite, i, err)
		}
		granule += uint64(n * opusDecimation)
		flags := byte(0)
		if i == len(packets)-1 {
			flags = 0x04 // end of stream
		}
		if err := ow.page(p, flags, granule); err != nil {
			return err
		}
	}
	if len(packets) == 0 {
		return ow.page(nil, 0x04, 0)
	}
	return nil
}

// oggPageWriter emits one packet per Ogg page (RFC 3533).
type oggPageWriter struct {
	w      io.Writer
	serial uint32
	seq    uint32
	buf    []byte
}

func (o *oggPageWriter) page(packet []byte, flags byte, granule uint64) error {
	if len(packet) > 255*255-1 {
		return fmt.Errorf("%w: %d-byte packet does not fit one Ogg page", ErrWrite, len(packet))
	}
	le := binary.LittleEndian
	b := append(o.buf[:0], "OggS"...)
	b = append(b, 0, flags)
	b = le.AppendUint64(b, granule)
	b = le.AppendUint32(b, o.serial)
	b = le.AppendUint32(b, o.seq)
	b = append(b, 0, 0, 0, 0) // CRC, filled below
	nseg := len(packet)/255 + 1
	b = append(b, byte(nseg))
	for range nseg - 1 {
		b = append(b, 255)
	}
	b = append(b, byte(len(packet)%255))
	b = append(b, packet...)
	le.PutUint32(b[22:], oggCRC(b))
	o.buf = b
	o.seq++
	_, err := o.w.Write(b)
	return err
}

// oggCRCTable is the Ogg CRC-32 (polynomial 0x04c11db7, no reflection, no
// final XOR).
var oggCRCTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04c11db7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func oggCRC(b []byte) uint32 {
	var crc uint32
	for _, c := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}

// PcapWriter writes a classic libpcap file (microsecond timestamps,
// Ethernet link type) of UDP datagrams — enough to store RTP for tests and
// fixtures, and to open in Wireshark.
type PcapWriter struct {
	w   io.Writer
	buf []byte
	id  uint16
}

// NewPcapWriter writes the pcap file header to w.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	var hdr [24]byte
	le := binary.LittleEndian
	le.PutUint32(hdr[0:], pcapMagicMicro)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535) // snaplen
	le.PutUint32(hdr[20:], linkEthernet)
	if _, err := w.Write(hdr[:]); err != nil {
		return nil, err
	}
	return &PcapWriter{w: w}, nil
}

// WriteUDP writes one UDP datagram from src to dst captured at ts. Both
// addresses must be IPv4 or both IPv6.
func (pw *PcapWriter) WriteUDP(ts time.Time, src, dst netip.AddrPort, payload []byte) error {
	if src.Addr().Is4() != dst.Addr().Is4() {
		return fmt.Errorf("%w: mixed IPv4/IPv6 addresses", ErrWrite)
	}
	if len(payload) > 65000 {
		return fmt.Errorf("%w: %d-byte UDP payload", ErrWrite, len(payload))
	}
	be := binary.BigEndian
	b := pw.buf[:0]
	// Ethernet: locally administered MACs, then the EtherType.
	b = append(b, 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1)
	udpLen := 8 + len(payload)
	if src.Addr().Is4() {
		b = be.AppendUint16(b, 0x0800)
		ip := len(b)
		pw.id++
		b = append(b, 0x45, 0)
		b = be.AppendUint16(b, uint16(20+udpLen))
		b = be.AppendUint16(b, pw.id)
		b = append(b, 0x40, 0, 64, 17, 0, 0) // DF, TTL 64, UDP, checksum
		s4, d4 := src.Addr().As4(), dst.Addr().As4()
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
		be.PutUint16(b[ip+10:], ipChecksum(b[ip:ip+20]))
	} else {
		b = be.AppendUint16(b, 0x86DD)
		b = append(b, 0x60, 0, 0, 0)
		b = be.AppendUint16(b, uint16(udpLen))
		b = append(b, 17, 64)
		s16, d16 := src.Addr().As16(), dst.Addr().As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
	}
	b = be.AppendUint16(b, src.Port())
	b = be.AppendUint16(b, dst.Port())
	b = be.AppendUint16(b, uint16(udpLen))
	udp := len(b) - 6
	b = be.AppendUint16(b, 0)
	b = append(b, payload...)
	be.PutUint16(b[udp+6:], udpChecksum(src.Addr(), dst.Addr(), b[udp:]))
	pw.buf = b

	var rec [16]byte
	le := binary.LittleEndian
	le.PutUint32(rec[0:], uint32(ts.Unix()))
	le.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
	le.PutUint32(rec[8:], uint32(len(b)))
	le.PutUint32(rec[12:], uint32(len(b)))
	if _, err := pw.w.Write(rec[:]); err != nil {
		return err
	}
	_, err := pw.w.Write(b)
	return err
}

func ipChecksum(h []byte) uint16 { return ^fold(sum16(0, h)) }

// udpChecksum is the UDP checksum over the pseudo-header and datagram
// (mandatory over IPv6, so Wireshark shows captures as clean).
func udpChecksum(src, dst netip.Addr, dgram []byte) uint16 {
	s := sum16(0, src.AsSlice())
	s = sum16(s, dst.AsSlice())
	s += 17 + uint32(len(dgram))
	c := ^fold(sum16(s, dgram))
	if c == 0 {
		c = 0xFFFF
	}
	return c
}

func sum16(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xFFFF {
		sum = sum>>16 + sum&0xFFFF
	}
	return uint16(sum)
}
