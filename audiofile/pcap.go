package audiofile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// Capture file readers: classic libpcap (both byte orders, µs and ns
// timestamps) and pcapng (SHB, IDB, EPB, SPB and the obsolete PB), down to
// the UDP payloads of IPv4 and IPv6 packets. Nothing else of a capture
// matters to us: RTP carries its own clock and order.

// Link-layer header types (https://www.tcpdump.org/linktypes.html).
const (
	linkNull     = 0   // BSD loopback: 4-byte host-order address family
	linkEthernet = 1   // Ethernet II / 802.3
	linkRaw12    = 12  // raw IP (OpenBSD's DLT_RAW value)
	linkRaw14    = 14  // raw IP (some other BSDs' DLT_RAW)
	linkRaw      = 101 // raw IP, v4 or v6 by the version nibble
	linkLoop     = 108 // OpenBSD loopback: 4-byte network-order family
	linkSLL      = 113 // Linux "cooked" capture v1
	linkIPv4     = 228 // raw IPv4
	linkIPv6     = 229 // raw IPv6
	linkSLL2     = 276 // Linux "cooked" capture v2
)

const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	pcapngSHB      = 0x0a0d0d0a
	pcapngBOM      = 0x1a2b3c4d
	// maxRecordLen bounds one captured packet (snaplen is at most 256 KiB
	// in every tool); a larger length field is corruption, not a packet.
	maxRecordLen = 256 << 10
	// maxBlockLen bounds one pcapng block for the same reason (plus
	// options); SHB/IDB option lists are tiny in practice.
	maxBlockLen = maxRecordLen + 64<<10
)

// udpFunc receives each UDP payload; the slice is only valid during the call.
type udpFunc func(payload []byte) error

// errStop lets a callback end the walk early without an error.
var errStop = errors.New("stop")

// readCapture walks a pcap or pcapng file and calls fn for every UDP payload.
// A capture cut off inside its last record (a killed tcpdump) is not an
// error; a cut inside the file header is.
func readCapture(r *bufio.Reader, fn udpFunc) error {
	magic, err := r.Peek(4)
	if err != nil {
		return errorf(ErrTruncated, "pcap: truncated file header")
	}
	if binary.BigEndian.Uint32(magic) == pcapngSHB {
		return readPcapng(r, fn)
	}
	return readPcap(r, fn)
}

func readPcap(r *bufio.Reader, fn udpFunc) error {
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return errorf(ErrTruncated, "pcap: truncated file header")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch binary.LittleEndian.Uint32(hdr[:]) {
	case pcapMagicMicro, pcapMagicNano:
	default:
		bo = binary.BigEndian
	}
	if major := bo.Uint16(hdr[4:]); major != 2 {
		return errorf(ErrUnsupported, "unsupported format: pcap version %d", major)
	}
	link := int(bo.Uint32(hdr[20:]) & 0x0FFFFFFF) // top bits carry FCS info
	if !supportedLink(link) {
		return errorf(ErrUnsupported, "unsupported format: pcap link type %d", link)
	}
	buf := make([]byte, 0, 2048)
	rec := make([]byte, 16) // hoisted: a loop-local array would escape per record
	for {
		n, err := io.ReadFull(r, rec)
		if n == 0 && errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // cut inside a record header: end of capture
		}
		incl := bo.Uint32(rec[8:])
		if incl > maxRecordLen {
			return errorf(ErrCorrupt, "pcap: record of %d bytes is implausible", incl)
		}
		if cap(buf) < int(incl) {
			buf = make([]byte, incl)
		}
		buf = buf[:incl]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil // cut inside the last packet
		}
		if err := dispatchLink(link, buf, fn); err != nil {
			return err
		}
	}
}

// pcapng block types.
const (
	blockIDB = 0x00000001
	blockPB  = 0x00000002 // obsolete Packet Block
	blockSPB = 0x00000003
	blockEPB = 0x00000006
)

func readPcapng(r *bufio.Reader, fn udpFunc) error {
	var bo binary.ByteOrder = binary.LittleEndian
	var links []int // link type per interface, per section
	sawSHB := false
	buf := make([]byte, 0, 2048)
	bh := make([]byte, 12) // hoisted: a loop-local array would escape per block
	for {
		n, err := io.ReadFull(r, bh[:8])
		if n == 0 && errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if !sawSHB {
				return errorf(ErrTruncated, "pcapng: truncated section header")
			}
			return nil
		}
		if binary.BigEndian.Uint32(bh[:]) == pcapngSHB {
			// The byte order is only known after the byte-order magic.
			if _, err := io.ReadFull(r, bh[8:12]); err != nil {
				if !sawSHB {
					return errorf(ErrTruncated, "pcapng: truncated section header")
				}
				return nil
			}
			switch binary.LittleEndian.Uint32(bh[8:]) {
			case pcapngBOM:
				bo = binary.LittleEndian
			case 0x4d3c2b1a:
				bo = binary.BigEndian
			default:
				return errorf(ErrCorrupt, "pcapng: bad byte-order magic")
			}
			sawSHB = true
			links = links[:0]
			total := bo.Uint32(bh[4:])
			if total < 28 || total%4 != 0 || total > maxBlockLen {
				return errorf(ErrCorrupt, "pcapng: section header block length %d", total)
			}
			if _, err := r.Discard(int(total) - 12); err != nil {
				return nil
			}
			continue
		}
		if !sawSHB {
			return errorf(ErrCorrupt, "pcapng: first block is not a section header")
		}
		typ, total := bo.Uint32(bh[:]), bo.Uint32(bh[4:])
		if total < 12 || total%4 != 0 || total > maxBlockLen {
			return errorf(ErrCorrupt, "pcapng: block length %d", total)
		}
		bodyLen := int(total) - 8 // body + trailing length
		if cap(buf) < bodyLen {
			buf = make([]byte, bodyLen)
		}
		body := buf[:bodyLen]
		if _, err := io.ReadFull(r, body); err != nil {
			return nil // cut inside the last block
		}
		body = body[:bodyLen-4]
		switch typ {
		case blockIDB:
			if len(body) < 8 {
				return errorf(ErrCorrupt, "pcapng: short interface description block")
			}
			if len(links) >= 1<<16 {
				return errorf(ErrCorrupt, "pcapng: too many interfaces")
			}
			links = append(links, int(bo.Uint16(body)))
		case blockEPB, blockPB:
			// EPB: if_id(4) ts(8) caplen(4) origlen(4) data.
			// PB:  if_id(2) drops(2) ts(8) caplen(4) origlen(4) data.
			if len(body) < 20 {
				return errorf(ErrCorrupt, "pcapng: short packet block")
			}
			var ifc int
			if typ == blockEPB {
				ifc = int(bo.Uint32(body))
			} else {
				ifc = int(bo.Uint16(body))
			}
			capLen := int(bo.Uint32(body[12:]))
			if capLen > len(body)-20 {
				return errorf(ErrCorrupt, "pcapng: packet length %d exceeds its block", capLen)
			}
			if ifc >= len(links) {
				return errorf(ErrCorrupt, "pcapng: packet on undeclared interface %d", ifc)
			}
			if err := dispatchLink(links[ifc], body[20:20+capLen], fn); err != nil {
				return err
			}
		case blockSPB:
			// SPB: origlen(4) data; always interface 0, captured length
			// is the smaller of origlen and what the block holds.
			if len(body) < 4 || len(links) == 0 {
				return errorf(ErrCorrupt, "pcapng: simple packet block without interface")
			}
			data := body[4:]
			if orig := int(bo.Uint32(body)); orig < len(data) {
				data = data[:orig]
			}
			if err := dispatchLink(links[0], data, fn); err != nil {
				return err
			}
		}
		// Name resolution, statistics, custom and unknown blocks: skipped.
	}
}

func supportedLink(link int) bool {
	switch link {
	case linkNull, linkEthernet, linkRaw12, linkRaw14, linkRaw, linkLoop, linkSLL, linkIPv4, linkIPv6, linkSLL2:
		return true
	}
	return false
}

// dispatchLink strips the link-layer header and hands the IP packet on.
// Packets we cannot interpret are skipped: a capture holds all sorts.
func dispatchLink(link int, b []byte, fn udpFunc) error {
	switch link {
	case linkEthernet:
		if len(b) < 14 {
			return nil
		}
		et := binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		// 802.1Q / 802.1ad tags, possibly stacked.
		for (et == 0x8100 || et == 0x88a8 || et == 0x9100) && len(b) >= 4 {
			et = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		}
		return dispatchEtherType(et, b, fn)
	case linkSLL:
		if len(b) < 16 {
			return nil
		}
		return dispatchEtherType(binary.BigEndian.Uint16(b[14:]), b[16:], fn)
	case linkSLL2:
		if len(b) < 20 {
			return nil
		}
		return dispatchEtherType(binary.BigEndian.Uint16(b[0:]), b[20:], fn)
	case linkNull, linkLoop:
		if len(b) < 4 {
			return nil
		}
		// The family is in the capturing host's byte order for NULL; read
		// it either way: AF_INET is 2 everywhere, AF_INET6 is 10, 24, 28
		// or 30 depending on the OS.
		fam := binary.LittleEndian.Uint32(b)
		if fam > 0xFFFF {
			fam = binary.BigEndian.Uint32(b)
		}
		switch fam {
		case 2:
			return dispatchIPv4(b[4:], fn)
		case 10, 24, 28, 30:
			return dispatchIPv6(b[4:], fn)
		}
		return nil
	case linkRaw, linkRaw12, linkRaw14:
		if len(b) == 0 {
			return nil
		}
		switch b[0] >> 4 {
		case 4:
			return dispatchIPv4(b, fn)
		case 6:
			return dispatchIPv6(b, fn)
		}
		return nil
	case linkIPv4:
		return dispatchIPv4(b, fn)
	case linkIPv6:
		return dispatchIPv6(b, fn)
	}
	return nil
}

func dispatchEtherType(et uint16, b []byte, fn udpFunc) error {
	switch et {
	case 0x0800:
		return dispatchIPv4(b, fn)
	case 0x86DD:
		return dispatchIPv6(b, fn)
	}
	return nil
}

func dispatchIPv4(b []byte, fn udpFunc) error {
	if len(b) < 20 || b[0]>>4 != 4 {
		return nil
	}
	ihl := int(b[0]&0x0F) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || len(b) < ihl {
		return nil
	}
	if total < len(b) {
		b = b[:total] // drop Ethernet padding
	}
	// Fragments other than an unfragmented datagram cannot be used
	// without reassembly; RTP audio packets are never fragmented.
	if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3FFF != 0 {
		return nil
	}
	if b[9] != 17 {
		return nil
	}
	return dispatchUDP(b[ihl:], fn)
}

func dispatchIPv6(b []byte, fn udpFunc) error {
	if len(b) < 40 || b[0]>>4 != 6 {
		return nil
	}
	payload := int(binary.BigEndian.Uint16(b[4:]))
	next := b[6]
	b = b[40:]
	if payload < len(b) {
		b = b[:payload]
	}
	// Walk extension headers (at most a few; bounded by the loop count).
	for range 8 {
		switch next {
		case 17:
			return dispatchUDP(b, fn)
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 8 {
				return nil
			}
			l := (int(b[1]) + 1) * 8
			if len(b) < l {
				return nil
			}
			next, b = b[0], b[l:]
		default: // fragment (44), ESP, TCP, ICMPv6, …
			return nil
		}
	}
	return nil
}

func dispatchUDP(b []byte, fn udpFunc) error {
	if len(b) < 8 {
		return nil
	}
	l := int(binary.BigEndian.Uint16(b[4:]))
	if l < 8 {
		return nil
	}
	p := b[8:]
	if l-8 < len(p) {
		p = p[:l-8]
	}
	return fn(p)
}
