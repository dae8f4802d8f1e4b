package loadgen

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want uint64
		err  bool
	}{
		{"plain", "1234 (amdd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 1000 200", 300, false},
		{"name with spaces and parens", "77 (a) b (c) R 1 77 77 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0", 15, false},
		{"no name", "1234 amdd S 1", 0, true},
		{"short", "1 (x) S 1 2 3", 0, true},
		{"bad number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 zz 8 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("parseProcStat = %d, %v; want %d, err=%v", got, err, tt.want, tt.err)
			}
			if err != nil && !errors.Is(err, ErrProc) {
				t.Fatalf("error %v does not wrap ErrProc", err)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want int64
		err  bool
	}{
		{"typical", "Name:\tamdd\nVmPeak:\t 9999 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n", 20480, false},
		{"missing", "Name:\tkthreadd\nThreads:\t1\n", 0, true},
		{"unit", "VmRSS:\t 20 MB\n", 0, true},
		{"negative", "VmRSS:\t -5 kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.in))
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("parseVmRSS = %d, %v; want %d, err=%v", got, err, tt.want, tt.err)
			}
		})
	}
}

const netTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55501 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F91 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 55502 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0000000000000000 100 0 0 10 0
`

func TestParseListenInodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		port uint16
		want []uint64
	}{
		{8081, []uint64{55501}}, // the established connection on 8081 is not a listener
		{22, []uint64{1234}},
		{9999, nil},
	}
	for _, tt := range tests {
		got := parseListenInodes([]byte(netTCP), tt.port)
		if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
			t.Errorf("port %d: inodes %v, want %v", tt.port, got, tt.want)
		}
	}
}

// TestFindListenerPID finds this very process from a listener it opens.
func TestFindListenerPID(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pid, err := FindListenerPID(uint16(ln.Addr().(*net.TCPAddr).Port))
	if err != nil || pid != os.Getpid() {
		t.Fatalf("FindListenerPID = %d, %v; want %d", pid, err, os.Getpid())
	}
	s, err := ReadProc(pid)
	if err != nil || s.RSSKiB <= 0 {
		t.Fatalf("ReadProc(self) = %+v, %v", s, err)
	}
	// A port nobody listens on: the listener was closed.
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	if _, err := FindListenerPID(port); !errors.Is(err, ErrProc) {
		t.Fatalf("closed listener: err %v, want ErrProc", err)
	}
}

func TestParseMetrics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want map[string]float64
		err  bool
	}{
		{"counters", "# HELP amd_rtp_lost_total x\n# TYPE amd_rtp_lost_total counter\namd_rtp_lost_total 3\namd_rtp_packets_total 1.5e3\n",
			map[string]float64{"amd_rtp_lost_total": 3, "amd_rtp_packets_total": 1500}, false},
		{"labels summed, timestamp", "amd_events_total{event=\"a\"} 2 1700000000000\namd_events_total{event=\"b,}\"} 5\n",
			map[string]float64{"amd_events_total": 7}, false},
		{"no value", "amd_rtp_lost_total\n", nil, true},
		{"bad value", "amd_rtp_lost_total abc\n", nil, true},
		{"unclosed", "amd_x{a=\"b\" 1\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMetrics([]byte(tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("err %v, want err=%v", err, tt.err)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte("amd_rtp_lost_total 3\n"))
	f.Add([]byte("a{b=\"}\"} 1 2\n# c\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMetrics(b)
		if err != nil && !errors.Is(err, ErrMetrics) {
			t.Fatalf("error %v does not wrap ErrMetrics", err)
		}
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1234 (amdd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseProcStat(b); err != nil && !errors.Is(err, ErrProc) {
			t.Fatalf("error %v does not wrap ErrProc", err)
		}
		_, _ = parseVmRSS(b)
	})
}

func FuzzParseListenInodes(f *testing.F) {
	f.Add([]byte(netTCP), uint16(8081))
	f.Fuzz(func(t *testing.T, b []byte, port uint16) {
		for _, ino := range parseListenInodes(b, port) {
			if ino == 0 {
				t.Fatal("inode 0 returned")
			}
			if !strings.Contains(string(b), " 0A ") {
				t.Fatal("listener found without a LISTEN state")
			}
		}
	})
}
