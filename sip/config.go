package sip

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultListenAddr = "0.0.0.0:5060"
	DefaultRTPPortMin = 30000
	DefaultRTPPortMax = 39999
	DefaultPortDrain  = 2 * time.Second
	DefaultUserAgent  = "amdd"
	// DefaultDialTimeout applies when a DialRequest sets no Timeout.
	DefaultDialTimeout = 60 * time.Second
	// DefaultHangupTimeout bounds BYE/CANCEL when the UA closes calls itself.
	DefaultHangupTimeout = 5 * time.Second
)

// Trunk is a SIP carrier or SBC that phone-number targets are sent to.
type Trunk struct {
	// Name is what DialRequest.Trunk refers to.
	Name string `yaml:"name" json:"name"`
	// Host and Port of the trunk's SIP UDP endpoint; Port 0 means 5060.
	Host string `yaml:"host" json:"host"`
	Port int    `yaml:"port" json:"port"`
	// Username and Password answer 401/407 digest challenges.
	Username string `yaml:"username" json:"username"`
	Password string `yaml:"password" json:"-"`
}

// Config is the SIP side of amdd.
type Config struct {
	// ListenAddr is the SIP UDP address (host:port). Port 0 picks a free one.
	ListenAddr string `yaml:"listen_addr"`
	// ContactHost is the host put in Via/Contact/From; empty means MediaIP.
	// Set it when amdd sits behind NAT or listens on 0.0.0.0.
	ContactHost string `yaml:"contact_host"`
	// MediaIP is the address RTP sockets bind to and the SDP advertises.
	MediaIP string `yaml:"media_ip"`
	// RTPPortMin/Max bound the per-call RTP ports (even ports are used).
	RTPPortMin int `yaml:"rtp_port_min"`
	RTPPortMax int `yaml:"rtp_port_max"`
	// Trunks for tel:/digit targets; the first is the default.
	Trunks []Trunk `yaml:"trunks"`
	// UserAgent is the User-Agent header value.
	UserAgent string `yaml:"user_agent"`
	// PortDrain is how long a released RTP port stays unused.
	PortDrain time.Duration `yaml:"port_drain"`
	// MediaTimeout is how long an answered call may go without RTP.
	MediaTimeout time.Duration `yaml:"media_timeout"`
	// SendSilence sends one silence packet back per frame received
	// (symmetric RTP) for SBCs that drop calls receiving no RTP and for
	// NAT bindings in front of amdd.
	SendSilence bool `yaml:"send_silence"`
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
	}
	if c.RTPPortMin == 0 && c.RTPPortMax == 0 {
		c.RTPPortMin, c.RTPPortMax = DefaultRTPPortMin, DefaultRTPPortMax
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.PortDrain == 0 {
		c.PortDrain = DefaultPortDrain
	}
	if c.MediaTimeout == 0 {
		c.MediaTimeout = DefaultMediaTimeout
	}
	if c.ContactHost == "" {
		c.ContactHost = c.MediaIP
	}
	for i := range c.Trunks {
		if c.Trunks[i].Port == 0 {
			c.Trunks[i].Port = 5060
		}
	}
	return c
}

// Validate reports the first invalid field, naming it.
func (c Config) Validate() error {
	if _, _, err := splitHostPort(c.ListenAddr); err != nil {
		return fmt.Errorf("%w: listen_addr %q: %v", ErrInvalidConfig, c.ListenAddr, err)
	}
	ip, err := netip.ParseAddr(c.MediaIP)
	if err != nil || ip.IsUnspecified() {
		return fmt.Errorf("%w: media_ip %q: want the concrete IP peers send RTP to", ErrInvalidConfig, c.MediaIP)
	}
	if c.RTPPortMin < 1024 || c.RTPPortMax > 65534 || c.RTPPortMin >= c.RTPPortMax {
		return fmt.Errorf("%w: rtp_port_min/max %d-%d: want 1024 <= min < max <= 65534", ErrInvalidConfig, c.RTPPortMin, c.RTPPortMax)
	}
	if c.PortDrain < 0 || c.MediaTimeout < 0 {
		return fmt.Errorf("%w: port_drain/media_timeout must not be negative", ErrInvalidConfig)
	}
	seen := map[string]bool{}
	for i, t := range c.Trunks {
		if t.Name == "" || t.Host == "" {
			return fmt.Errorf("%w: trunks[%d]: name and host are required", ErrInvalidConfig, i)
		}
		if seen[t.Name] {
			return fmt.Errorf("%w: trunks[%d]: duplicate name %q", ErrInvalidConfig, i, t.Name)
		}
		seen[t.Name] = true
		if t.Port < 0 || t.Port > 65535 {
			return fmt.Errorf("%w: trunks[%d].port %d", ErrInvalidConfig, i, t.Port)
		}
		if strings.ContainsAny(t.Host, " @;") {
			return fmt.Errorf("%w: trunks[%d].host %q", ErrInvalidConfig, i, t.Host)
		}
	}
	return nil
}

func splitHostPort(hp string) (string, int, error) {
	ap, err := netip.ParseAddrPort(hp)
	if err != nil {
		return "", 0, err
	}
	return ap.Addr().String(), int(ap.Port()), nil
}
