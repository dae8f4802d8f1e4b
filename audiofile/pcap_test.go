package audiofile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/amd-engine/amd/dsp"
)

// --- RTP and capture builders ---

func rtpBytes(t testing.TB, pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// capVariant describes one way of wrapping the same UDP payloads.
type capVariant struct {
	name      string
	ng        bool // pcapng instead of classic pcap
	bigEndian bool
	nano      bool // classic pcap with ns timestamps
	link      int
	ipv6      bool
	vlan      bool // Ethernet: add an 802.1Q tag
	spb       bool // pcapng: Simple Packet Blocks instead of EPBs
	hopByHop  bool // IPv6: add a hop-by-hop extension header
}

func ipUDP(v capVariant, payload []byte) []byte {
	be := binary.BigEndian
	udp := be.AppendUint16(nil, 5004)
	udp = be.AppendUint16(udp, 6000)
	udp = be.AppendUint16(udp, uint16(8+len(payload)))
	udp = append(udp, 0, 0)
	udp = append(udp, payload...)
	if !v.ipv6 {
		ip := []byte{0x45, 0}
		ip = be.AppendUint16(ip, uint16(20+len(udp)))
		ip = append(ip, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
		return append(ip, udp...)
	}
	next := byte(17)
	var ext []byte
	if v.hopByHop {
		next = 0
		ext = []byte{17, 0, 1, 4, 0, 0, 0, 0} // next=UDP, len 8, PadN option
	}
	ip := []byte{0x60, 0, 0, 0}
	ip = be.AppendUint16(ip, uint16(len(ext)+len(udp)))
	ip = append(ip, next, 64)
	ip = append(ip, netip.MustParseAddr("2001:db8::1").AsSlice()...)
	ip = append(ip, netip.MustParseAddr("2001:db8::2").AsSlice()...)
	return append(append(ip, ext...), udp...)
}

func frame(v capVariant, payload []byte) []byte {
	ip := ipUDP(v, payload)
	et := []byte{0x08, 0x00}
	if v.ipv6 {
		et = []byte{0x86, 0xDD}
	}
	switch v.link {
	case linkEthernet:
		h := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1}
		if v.vlan {
			h = append(h, 0x81, 0x00, 0x00, 0x64)
		}
		return cat(h, et, ip)
	case linkSLL:
		return cat([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, et, ip)
	case linkSLL2:
		return cat(et, []byte{0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, ip)
	case linkNull:
		fam := uint32(2)
		if v.ipv6 {
			fam = 30
		}
		return cat(binary.LittleEndian.AppendUint32(nil, fam), ip)
	case linkLoop:
		fam := uint32(2)
		if v.ipv6 {
			fam = 24
		}
		return cat(binary.BigEndian.AppendUint32(nil, fam), ip)
	}
	return ip // raw links
}

func buildCapture(v capVariant, payloads [][]byte) []byte {
	var bo interface {
		binary.ByteOrder
		binary.AppendByteOrder
	} = binary.LittleEndian
	if v.bigEndian {
		bo = binary.BigEndian
	}
	var out []byte
	if !v.ng {
		magic := uint32(pcapMagicMicro)
		if v.nano {
			magic = pcapMagicNano
		}
		out = bo.AppendUint32(out, magic)
		out = bo.AppendUint16(out, 2)
		out = bo.AppendUint16(out, 4)
		out = append(out, make([]byte, 8)...)
		out = bo.AppendUint32(out, 65535)
		out = bo.AppendUint32(out, uint32(v.link))
		for i, p := range payloads {
			f := frame(v, p)
			out = bo.AppendUint32(out, uint32(1700000000+i/50))
			out = bo.AppendUint32(out, uint32(i%50*20000))
			out = bo.AppendUint32(out, uint32(len(f)))
			out = bo.AppendUint32(out, uint32(len(f)))
			out = append(out, f...)
		}
		return out
	}
	block := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		total := uint32(12 + len(body))
		out = bo.AppendUint32(out, typ)
		out = bo.AppendUint32(out, total)
		out = append(out, body...)
		out = bo.AppendUint32(out, total)
	}
	shb := bo.AppendUint32(nil, pcapngBOM)
	shb = bo.AppendUint16(shb, 1)
	shb = bo.AppendUint16(shb, 0)
	shb = bo.AppendUint64(shb, ^uint64(0))
	block(pcapngSHB, shb)
	idb := bo.AppendUint16(nil, uint16(v.link))
	idb = bo.AppendUint16(idb, 0)
	idb = bo.AppendUint32(idb, 0)
	block(blockIDB, idb)
	block(0x00000004, []byte("name resolution block, skipped")) // NRB
	for i, p := range payloads {
		f := frame(v, p)
		if v.spb {
			block(blockSPB, cat(bo.AppendUint32(nil, uint32(len(f))), f))
			continue
		}
		epb := bo.AppendUint32(nil, 0)
		epb = bo.AppendUint32(epb, 0)
		epb = bo.AppendUint32(epb, uint32(i*20000))
		epb = bo.AppendUint32(epb, uint32(len(f)))
		epb = bo.AppendUint32(epb, uint32(len(f)))
		block(blockEPB, cat(epb, f))
	}
	return out
}

// g711Scenario is a 2 s G.711 call leg with reordering, loss, a duplicate,
// sequence and timestamp wrap, RTCP, STUN and a second, minor SSRC. want is
// the exact expected decode.
type g711Scenario struct {
	payloads [][]byte
	want     []int16
}

func newG711Scenario(t testing.TB, pt uint8) g711Scenario {
	const (
		nPkt = 100
		ssrc = 0x1234abcd
	)
	sig := sineAt(8000, 700, 8000, nPkt*160)
	enc := make([]byte, len(sig))
	dec := make([]int16, len(sig))
	if pt == 0 {
		dsp.EncodeMulaw(enc, sig)
		dsp.DecodeMulaw(dec, enc)
	} else {
		dsp.EncodeAlaw(enc, sig)
		dsp.DecodeAlaw(dec, enc)
	}
	lost := map[int]bool{20: true, 21: true, 50: true}
	pkts := make([][]byte, nPkt)
	for i := range pkts {
		pkts[i] = rtpBytes(t, pt, uint16(65500+i), uint32(0xFFFFF000+i*160), ssrc, enc[i*160:(i+1)*160])
	}
	var arrival [][]byte
	for i := 0; i < nPkt; i++ {
		switch {
		case lost[i]:
			continue
		case i%7 == 3 && i+1 < nPkt && !lost[i+1]:
			arrival = append(arrival, pkts[i+1], pkts[i]) // swapped pair
			i++
			continue
		case i == 30:
			arrival = append(arrival, pkts[i], pkts[i]) // duplicate
			continue
		}
		arrival = append(arrival, pkts[i])
		if i%25 == 0 {
			arrival = append(arrival, []byte{0x80, 200, 0, 6, 0x12, 0x34, 0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // RTCP SR
			arrival = append(arrival, []byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})               // STUN
		}
		if i < 10 {
			arrival = append(arrival, rtpBytes(t, 0, uint16(i), uint32(i*160), 0x9999, enc[:160])) // minor SSRC
		}
	}
	want := bytes.Clone(int16Bytes(dec))
	w := bytesInt16(want)
	for i := range lost {
		clear(w[i*160 : (i+1)*160])
	}
	return g711Scenario{payloads: arrival, want: w}
}

func int16Bytes(s []int16) []byte { return pcmBytes(s) }

func bytesInt16(b []byte) []int16 {
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return s
}

var captureVariants = []capVariant{
	{name: "ethernet", link: linkEthernet},
	{name: "ethernet-vlan", link: linkEthernet, vlan: true},
	{name: "ethernet-ipv6", link: linkEthernet, ipv6: true},
	{name: "ipv6-hop-by-hop", link: linkEthernet, ipv6: true, hopByHop: true},
	{name: "big-endian", link: linkEthernet, bigEndian: true},
	{name: "nanosecond", link: linkEthernet, nano: true},
	{name: "nanosecond-big-endian", link: linkEthernet, nano: true, bigEndian: true},
	{name: "linux-sll", link: linkSLL},
	{name: "linux-sll2-ipv6", link: linkSLL2, ipv6: true},
	{name: "raw", link: linkRaw},
	{name: "raw-ipv6", link: linkRaw, ipv6: true},
	{name: "raw-12", link: linkRaw12},
	{name: "ipv4", link: linkIPv4},
	{name: "ipv6", link: linkIPv6, ipv6: true},
	{name: "null", link: linkNull},
	{name: "null-ipv6", link: linkNull, ipv6: true},
	{name: "loop", link: linkLoop},
	{name: "pcapng", ng: true, link: linkEthernet},
	{name: "pcapng-big-endian", ng: true, bigEndian: true, link: linkSLL},
	{name: "pcapng-spb", ng: true, spb: true, link: linkRaw, ipv6: true},
}

func TestPcapG711AllLinkTypes(t *testing.T) {
	t.Parallel()
	for _, pt := range []uint8{0, 8} {
		sc := newG711Scenario(t, pt)
		wantFormat := FormatPcapPCMU
		if pt == 8 {
			wantFormat = FormatPcapPCMA
		}
		for _, v := range captureVariants {
			t.Run(fmt.Sprintf("%s/%s", wantFormat, v.name), func(t *testing.T) {
				a, err := decodeBytes(buildCapture(v, sc.payloads))
				if err != nil {
					t.Fatal(err)
				}
				if a.Format != wantFormat || a.SourceRate != 8000 || a.Channels != 1 || a.DurationMs != 2000 {
					t.Fatalf("got %s %d Hz %d ch %d ms", a.Format, a.SourceRate, a.Channels, a.DurationMs)
				}
				equalSamples(t, a.Samples, sc.want)
			})
		}
	}
}

// TestPcapFromTools reads our capture after tshark's editcap rewrote it as
// pcapng and as nanosecond pcap: files written by independent code.
func TestPcapFromTools(t *testing.T) {
	needTool(t, "editcap")
	t.Parallel()
	dir := t.TempDir()
	sc := newG711Scenario(t, 0)
	var buf bytes.Buffer
	pw, err := NewPcapWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1700000000, 0)
	src, dst := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:5004")
	for i, p := range sc.payloads {
		if err := pw.WriteUDP(start.Add(time.Duration(i)*20*time.Millisecond), src, dst, p); err != nil {
			t.Fatal(err)
		}
	}
	in := filepath.Join(dir, "ours.pcap")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"pcap", "pcapng", "nsecpcap"} {
		out := filepath.Join(dir, "out."+format)
		runTool(t, "editcap", "-F", format, in, out)
		a, err := Load(out)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		equalSamples(t, a.Samples, sc.want)
	}
}

// TestPcapFromText2pcap has Wireshark's text2pcap build the Ethernet, IP
// and UDP headers around our RTP payloads: an independent writer for
// pcapng and pcap, IPv4 and IPv6.
func TestPcapFromText2pcap(t *testing.T) {
	needTool(t, "text2pcap")
	t.Parallel()
	dir := t.TempDir()
	sc := newG711Scenario(t, 8)
	var dump strings.Builder
	for _, p := range sc.payloads {
		for off := 0; off < len(p); off += 16 {
			fmt.Fprintf(&dump, "%06x", off)
			for _, c := range p[off:min(off+16, len(p))] {
				fmt.Fprintf(&dump, " %02x", c)
			}
			dump.WriteByte('\n')
		}
	}
	in := filepath.Join(dir, "dump.txt")
	if err := os.WriteFile(in, []byte(dump.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, fileType, ip, addrs string }{
		{"pcapng-ipv4", "pcapng", "-4", "10.0.0.1,10.0.0.2"},
		{"pcap-ipv6", "pcap", "-6", "2001:db8::1,2001:db8::2"},
	} {
		out := filepath.Join(dir, tc.name)
		runTool(t, "text2pcap", "-q", "-F", tc.fileType, tc.ip, tc.addrs, "-u", "40000,5004", in, out)
		a, err := Load(out)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if a.Format != FormatPcapPCMA {
			t.Fatalf("%s: format %s", tc.name, a.Format)
		}
		equalSamples(t, a.Samples, sc.want)
	}
}

// TestPcapWriterCleanForTshark checks the writer's frames with Wireshark's
// dissectors, checksums included.
func TestPcapWriterCleanForTshark(t *testing.T) {
	tshark := needTool(t, "tshark")
	t.Parallel()
	dir := t.TempDir()
	var buf bytes.Buffer
	pw, err := NewPcapWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	pairs := [][2]string{{"192.0.2.1:40000", "192.0.2.2:5004"}, {"[2001:db8::1]:40000", "[2001:db8::2]:5004"}}
	n := 0
	for _, pr := range pairs {
		for i := range 5 {
			p := rtpBytes(t, 0, uint16(i), uint32(i*160), 7, bytes.Repeat([]byte{0xff}, 161))
			if err := pw.WriteUDP(time.Unix(1700000000, int64(i)*20e6), netip.MustParseAddrPort(pr[0]), netip.MustParseAddrPort(pr[1]), p); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	path := filepath.Join(dir, "w.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), tshark, "-n", "-r", path,
		"-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-T", "fields", "-e", "udp.length", "-e", "udp.checksum.status", "-e", "ip.checksum.status")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n {
		t.Fatalf("tshark saw %d packets, want %d:\n%s", len(lines), n, out)
	}
	for i, l := range lines {
		f := strings.Split(l, "\t")
		if f[0] != strconv.Itoa(8+12+161) {
			t.Fatalf("packet %d: udp.length %q", i, f[0])
		}
		// Wireshark checksum status: 0 bad, 1 good, 2 unverified.
		if f[1] != "1" || (i < 5 && f[2] != "1") {
			t.Fatalf("packet %d: checksum status %q (want good)", i, l)
		}
	}
}

func TestPcapOpusWithLoss(t *testing.T) {
	t.Parallel()
	sig := sineAt(8000, 700, 8000, 16000)
	pkts := opusPackets(t, sig)
	ref := decodeRef(t, pkts)
	const ssrc = 42
	var payloads [][]byte
	for i, p := range pkts {
		if i == 30 || i == 31 || i == 70 {
			continue // lost
		}
		payloads = append(payloads, rtpBytes(t, 111, uint16(1000+i), uint32(5000+i*960), ssrc, p))
	}
	// Two telephone-events of the same SSRC must not be taken for Opus.
	payloads = append(payloads, rtpBytes(t, 101, 999, 0, ssrc, []byte{1, 0, 0, 160}))
	a, err := decodeBytes(buildCapture(capVariant{link: linkEthernet}, payloads))
	if err != nil {
		t.Fatal(err)
	}
	if a.Format != FormatPcapOpus || a.SourceRate != 48000 {
		t.Fatalf("got %s %d Hz", a.Format, a.SourceRate)
	}
	if len(a.Samples) != len(ref) {
		t.Fatalf("got %d samples, want %d", len(a.Samples), len(ref))
	}
	// Identical to a clean decode up to the first loss.
	equalSamples(t, a.Samples[:30*160], ref[:30*160])
	// The loss is concealed, not silent: the tone continues.
	if lv := level(a.Samples[30*160:32*160], 700, 0); lv < 2000 {
		t.Fatalf("concealed gap has 700 Hz level %.0f, want a continuation (> 2000)", lv)
	}
	if lv := level(a.Samples, 700, 400); lv < 6000 || lv > 10000 {
		t.Fatalf("700 Hz level %.0f, want ~8000", lv)
	}
}

func TestPcapTimestamps(t *testing.T) {
	t.Parallel()
	enc := make([]byte, 160)
	dsp.EncodeMulaw(enc, sineAt(8000, 500, 5000, 160))
	one := make([]int16, 160)
	dsp.DecodeMulaw(one, enc)
	tests := []struct {
		name    string
		tsOf    func(i int) uint32 // RTP timestamp of packet i (seq i)
		wantLen int
		silence [2]int // [from, to) sample range that must be zero
	}{
		{"contiguous", func(i int) uint32 { return uint32(i * 160) }, 50 * 160, [2]int{}},
		{"one lying timestamp", func(i int) uint32 {
			if i == 20 {
				return 1 << 31
			}
			return uint32(i * 160)
		}, 50 * 160, [2]int{}},
		{"reset mid-stream", func(i int) uint32 {
			if i >= 25 {
				return uint32(900000 + i*160)
			}
			return uint32(i * 160)
		}, 50 * 160, [2]int{}},
		{"silence suppression 1 s", func(i int) uint32 {
			if i >= 25 {
				return uint32(8000 + i*160)
			}
			return uint32(i * 160)
		}, 50*160 + 8000, [2]int{25 * 160, 25*160 + 8000}},
		{"backwards jump", func(i int) uint32 {
			if i >= 25 {
				return uint32(i*160 - 100000)
			}
			return uint32(i * 160)
		}, 50 * 160, [2]int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var payloads [][]byte
			for i := range 50 {
				payloads = append(payloads, rtpBytes(t, 0, uint16(i), tc.tsOf(i), 1, enc))
			}
			a, err := decodeBytes(buildCapture(capVariant{link: linkRaw}, payloads))
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Samples) != tc.wantLen {
				t.Fatalf("got %d samples, want %d", len(a.Samples), tc.wantLen)
			}
			for i, s := range a.Samples {
				inSilence := i >= tc.silence[0] && i < tc.silence[1]
				if inSilence && s != 0 {
					t.Fatalf("sample %d = %d inside the silence", i, s)
				}
				if !inSilence {
					k := i
					if i >= tc.silence[1] {
						k -= tc.silence[1] - tc.silence[0]
					}
					if s != one[k%160] {
						t.Fatalf("sample %d = %d want %d", i, s, one[k%160])
					}
				}
			}
		})
	}
}

// TestPcapSkipsVideo: a bigger video stream in the capture must not hide
// the audio; with video alone, the error names the refused stream.
func TestPcapSkipsVideo(t *testing.T) {
	t.Parallel()
	var video [][]byte
	for f := range 100 {
		for k := range 3 { // three packets per frame share a timestamp
			video = append(video, rtpBytes(t, 96, uint16(f*3+k), uint32(f*3000), 77, bytes.Repeat([]byte{0x90, byte(k)}, 400)))
		}
	}
	sc := newG711Scenario(t, 0)
	a, err := decodeBytes(buildCapture(capVariant{link: linkEthernet}, append(slices.Clone(video), sc.payloads...)))
	if err != nil {
		t.Fatal(err)
	}
	equalSamples(t, a.Samples, sc.want)
	_, err = decodeBytes(buildCapture(capVariant{link: linkEthernet}, video))
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "payload type 96 is not Opus") {
		t.Fatalf("video only: err %v", err)
	}
}

// TestPcapRTPHeaderVariants: CSRCs, a header extension and padding must
// not leak into the audio.
func TestPcapRTPHeaderVariants(t *testing.T) {
	t.Parallel()
	enc := make([]byte, 160)
	dsp.EncodeMulaw(enc, sineAt(8000, 500, 5000, 160))
	want := make([]int16, 160)
	dsp.DecodeMulaw(want, enc)
	var payloads [][]byte
	for i := range 10 {
		p := rtp.Packet{Header: rtp.Header{
			Version: 2, PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(i * 160), SSRC: 5,
			CSRC: []uint32{1, 2},
		}, Payload: enc}
		if i%2 == 0 {
			p.Header.Padding, p.Header.PaddingSize, p.PaddingSize = true, 4, 4
		}
		if i%3 == 0 {
			if err := p.SetExtension(1, []byte{0xAA, 0xBB}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if hasPad := b[0]&0x20 != 0; hasPad != (i%2 == 0) || (hasPad && b[len(b)-1] != 4) {
			t.Fatalf("packet %d not built as intended: % x", i, b[:4])
		}
		payloads = append(payloads, b)
	}
	a, err := decodeBytes(buildCapture(capVariant{link: linkEthernet}, payloads))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Samples) != 1600 {
		t.Fatalf("got %d samples, want 1600", len(a.Samples))
	}
	for i, s := range a.Samples {
		if s != want[i%160] {
			t.Fatalf("sample %d = %d want %d", i, s, want[i%160])
		}
	}
}

func TestPcapErrors(t *testing.T) {
	t.Parallel()
	eth := capVariant{link: linkEthernet}
	g729 := [][]byte{rtpBytes(t, 18, 1, 0, 5, make([]byte, 20)), rtpBytes(t, 18, 2, 160, 5, make([]byte, 20)), rtpBytes(t, 18, 3, 320, 5, make([]byte, 20))}
	var notOpus [][]byte
	for i := range 5 {
		notOpus = append(notOpus, rtpBytes(t, 97, uint16(i), uint32(i*160), 5, bytes.Repeat([]byte{0xAB}, 160)))
	}
	dns := [][]byte{[]byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")}
	good := buildCapture(eth, newG711Scenario(t, 0).payloads)
	hugeRecord := bytes.Clone(good[:40])
	binary.LittleEndian.PutUint32(hugeRecord[24+8:], 1<<30)
	badLink := bytes.Clone(good)
	binary.LittleEndian.PutUint32(badLink[20:], 147)
	ng := buildCapture(capVariant{ng: true, link: linkEthernet}, nil)
	badBOM := bytes.Clone(ng)
	badBOM[8] ^= 0xFF
	tests := []struct {
		name    string
		file    []byte
		wantErr error
		msg     string
	}{
		{"no RTP", buildCapture(eth, dns), ErrEmpty, "pcap: no RTP stream found"},
		{"empty capture", buildCapture(eth, nil), ErrEmpty, "pcap: no RTP stream found"},
		{"empty pcapng", ng, ErrEmpty, "pcap: no RTP stream found"},
		{"G.729", buildCapture(eth, g729), ErrUnsupported, "RTP payload type 18 (G.729)"},
		{"dynamic PT not Opus", buildCapture(eth, notOpus), ErrUnsupported, "payload type 97 is not Opus"},
		{"huge record", hugeRecord, ErrCorrupt, "pcap: record of 1073741824 bytes is implausible"},
		{"unknown link type", badLink, ErrUnsupported, "pcap link type 147"},
		{"bad byte-order magic", badBOM, ErrCorrupt, "pcapng: bad byte-order magic"},
		{"header cut", good[:10], ErrTruncated, "pcap: truncated file header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeBytes(tc.file)
			if err == nil {
				t.Fatal("decoded without error")
			}
			checkErr(t, err)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q, want %v containing %q", err, tc.wantErr, tc.msg)
			}
		})
	}
}

func TestPcapTooLong(t *testing.T) {
	defer func(old int) { maxSamples = old }(maxSamples)
	maxSamples = 8000
	enc := make([]byte, 160)
	var payloads [][]byte
	for i := range 60 { // 1.2 s > the lowered 1 s cap
		payloads = append(payloads, rtpBytes(t, 0, uint16(i), uint32(i*160), 1, enc))
	}
	_, err := decodeBytes(buildCapture(capVariant{link: linkEthernet}, payloads))
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("err %v, want ErrTooLong", err)
	}
	checkErr(t, err)
}

func TestPcapTruncatedEveryOffset(t *testing.T) {
	t.Parallel()
	enc := make([]byte, 40)
	for _, v := range []capVariant{{link: linkEthernet}, {ng: true, link: linkEthernet}} {
		var payloads [][]byte
		for i := range 6 {
			payloads = append(payloads, rtpBytes(t, 0, uint16(i), uint32(i*40), 1, enc))
		}
		f := buildCapture(v, payloads)
		full, err := decodeBytes(f)
		if err != nil {
			t.Fatal(err)
		}
		expectTruncationSafe(t, f, len(full.Samples))
	}
}

func BenchmarkDecodePcapPCMU(b *testing.B) {
	enc := make([]byte, 160)
	dsp.EncodeMulaw(enc, sineAt(8000, 500, 5000, 160))
	var payloads [][]byte
	for i := range 3000 { // 60 s
		payloads = append(payloads, rtpBytes(b, 0, uint16(i), uint32(i*160), 1, enc))
	}
	data := buildCapture(capVariant{link: linkEthernet}, payloads)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := decodeBytes(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(60*float64(b.N)/b.Elapsed().Seconds(), "x_realtime")
}

// TestCaptureWalkAllocs proves the per-packet path of the capture reader
// allocates nothing: a 3000-packet walk costs a constant few allocations.
func TestCaptureWalkAllocs(t *testing.T) {
	enc := make([]byte, 160)
	var payloads [][]byte
	for i := range 3000 {
		payloads = append(payloads, rtpBytes(t, 0, uint16(i), uint32(i*160), 1, enc))
	}
	for _, v := range []capVariant{{link: linkEthernet}, {ng: true, link: linkEthernet}} {
		data := buildCapture(v, payloads)
		seen := 0
		allocs := testing.AllocsPerRun(5, func() {
			seen = 0
			err := readCapture(bufio.NewReader(bytes.NewReader(data)), func(p []byte) error {
				seen++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
		if seen != 3000 {
			t.Fatalf("walked %d packets, want 3000", seen)
		}
		if allocs > 8 {
			t.Fatalf("ng=%v: %.0f allocations for 3000 packets, want a constant few", v.ng, allocs)
		}
	}
}

func BenchmarkCaptureWalk(b *testing.B) {
	enc := make([]byte, 160)
	var payloads [][]byte
	for i := range 3000 {
		payloads = append(payloads, rtpBytes(b, 0, uint16(i), uint32(i*160), 1, enc))
	}
	data := buildCapture(capVariant{link: linkEthernet}, payloads)
	br := bufio.NewReader(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		br.Reset(bytes.NewReader(data))
		if err := readCapture(br, func([]byte) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/3000, "ns/packet")
}
