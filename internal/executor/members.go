package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Members is the current set of plan executors, as host:port addresses.
type Members interface {
	// Nodes returns the executors' addresses, sorted. The slice is not
	// modified afterwards; callers must not modify it either.
	Nodes() []string
}

// MembersSpec is a parsed --executors value.
type MembersSpec struct {
	// Static lists fixed addresses (host:port,...).
	Static []string
	// DNSName and Port: dns:///name:port resolves name's A/AAAA records
	// (a Kubernetes headless service) and dials every address at port.
	DNSName string
	Port    int
	// SRV: dns+srv:///_port._tcp.name resolves SRV records, whose targets
	// are the pods' stable names (StatefulSet pod-N.service...), so an
	// executor keeps its share of the keys — and its warm cache — across
	// restarts that change its IP.
	SRVService, SRVProto, SRVName string
}

// ParseMembers parses the --executors flag: "host:port[,host:port...]",
// "dns:///name:port" or "dns+srv:///_service._proto.name".
func ParseMembers(s string) (MembersSpec, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return MembersSpec{}, errors.New("no executors given")
	case strings.HasPrefix(s, "dns:///"):
		host, port, err := net.SplitHostPort(strings.TrimPrefix(s, "dns:///"))
		if err != nil {
			return MembersSpec{}, fmt.Errorf("executors %q: want dns:///name:port: %w", s, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p <= 0 || p > 65535 || host == "" {
			return MembersSpec{}, fmt.Errorf("executors %q: want dns:///name:port with a port in 1..65535", s)
		}
		return MembersSpec{DNSName: host, Port: p}, nil
	case strings.HasPrefix(s, "dns+srv:///"):
		rest := strings.TrimPrefix(s, "dns+srv:///")
		parts := strings.SplitN(rest, ".", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[0], "_") || !strings.HasPrefix(parts[1], "_") || parts[2] == "" {
			return MembersSpec{}, fmt.Errorf("executors %q: want dns+srv:///_service._proto.name (e.g. _flight._tcp.sarissa-executor.ns.svc.cluster.local)", s)
		}
		return MembersSpec{SRVService: parts[0][1:], SRVProto: parts[1][1:], SRVName: parts[2]}, nil
	case strings.Contains(s, "://"):
		return MembersSpec{}, fmt.Errorf("executors %q: unknown scheme (want host:port lists, dns:/// or dns+srv:///)", s)
	}
	var list []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		host, port, err := net.SplitHostPort(part)
		if err != nil || host == "" {
			return MembersSpec{}, fmt.Errorf("executor address %q: want host:port", part)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return MembersSpec{}, fmt.Errorf("executor address %q: port must be in 1..65535", part)
		}
		if !slices.Contains(list, part) {
			list = append(list, part)
		}
	}
	slices.Sort(list)
	return MembersSpec{Static: list}, nil
}

// StaticMembers is a fixed member list.
type StaticMembers []string

// Nodes returns the list.
func (s StaticMembers) Nodes() []string { return s }

// Resolver is the part of net.Resolver DNS membership uses.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// DNSMembers follows a DNS name: it resolves it at start and every
// interval, keeping the last good answer when a lookup fails or is empty
// (a DNS hiccup must not empty the fleet).
type DNSMembers struct {
	spec     MembersSpec
	resolver Resolver
	interval time.Duration
	log      *slog.Logger

	mu    sync.Mutex
	nodes []string
}

// NewDNSMembers resolves spec once (an error if that fails: a query node
// with no executors cannot serve) and returns the members; Run keeps them
// current.
func NewDNSMembers(ctx context.Context, spec MembersSpec, resolver Resolver, interval time.Duration, log *slog.Logger) (*DNSMembers, error) {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &DNSMembers{spec: spec, resolver: resolver, interval: interval, log: log}
	nodes, err := m.resolve(ctx)
	if err != nil {
		return nil, err
	}
	m.nodes = nodes
	return m, nil
}

// Nodes returns the last resolved members.
func (m *DNSMembers) Nodes() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nodes
}

// Run refreshes the members until ctx ends.
func (m *DNSMembers) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		nodes, err := m.resolve(ctx)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("resolve executors; keeping the last members", "err", err)
			}
			continue
		}
		m.mu.Lock()
		if !slices.Equal(nodes, m.nodes) {
			m.log.Info("executors changed", "from", m.nodes, "to", nodes)
			m.nodes = nodes
		}
		m.mu.Unlock()
	}
}

func (m *DNSMembers) resolve(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var nodes []string
	if m.spec.SRVName != "" {
		_, srvs, err := m.resolver.LookupSRV(ctx, m.spec.SRVService, m.spec.SRVProto, m.spec.SRVName)
		if err != nil {
			return nil, fmt.Errorf("look up SRV _%s._%s.%s: %w", m.spec.SRVService, m.spec.SRVProto, m.spec.SRVName, err)
		}
		for _, s := range srvs {
			nodes = append(nodes, net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port))))
		}
	} else {
		addrs, err := m.resolver.LookupHost(ctx, m.spec.DNSName)
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", m.spec.DNSName, err)
		}
		for _, a := range addrs {
			nodes = append(nodes, net.JoinHostPort(a, strconv.Itoa(m.spec.Port)))
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("no executors found under %s%s", m.spec.DNSName, m.spec.SRVName)
	}
	slices.Sort(nodes)
	return slices.Compact(nodes), nil
}
