package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/metadata"
)

// This file is the bridge from Rancher metadata to the plain member lists that mongors and
// lcconfig take: the only code that knows both sides.

// newWatcher builds the metadata watcher of a role. sourceIP, when set, binds the requests to that
// local address, which is how the metadata service tells which container is asking.
func newWatcher(c *commonConfig, log logrus.FieldLogger, m *metrics) (*metadata.Watcher, error) {
	wc := metadata.WatcherConfig{
		BaseURL:      c.MetadataURL,
		Mode:         metadata.Mode(c.MetadataMode),
		MaxWait:      c.MetadataMaxWait,
		PollInterval: c.MetadataInterval,
		BackoffCap:   c.MetadataBackoff,
		MinInterval:  c.MetadataSpacing,
		Logger:       log.WithField("component", "metadata"),
	}
	if m != nil {
		wc.Metrics = watcherMetrics{m}
	}
	if c.SourceIP != "" {
		ip := net.ParseIP(c.SourceIP) // validated with the flags
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
		wc.HTTPClient = &http.Client{Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	w, err := metadata.NewWatcher(wc)
	if err != nil {
		return nil, fmt.Errorf("metadata watcher: %w", err)
	}
	return w, nil
}

// watcherMetrics feeds the watcher's events into Prometheus.
type watcherMetrics struct{ m *metrics }

var _ metadata.Metrics = watcherMetrics{}

func (w watcherMetrics) RequestDone(kind metadata.RequestKind, _ time.Duration, err error) {
	w.m.metadataRequests.WithLabelValues(string(kind)).Inc()
	if err != nil {
		w.m.metadataErrors.Inc() // long-polls and tree reads alike
		return
	}
	w.m.lastMetadataOK.SetToCurrentTime()
}

// LongPollError is already counted by RequestDone.
func (w watcherMetrics) LongPollError(error) {}
func (w watcherMetrics) ChangeSeen(string) {
	w.m.metadataChanges.Inc()
	w.m.changeSeen.Store(time.Now().UnixNano())
}
func (w watcherMetrics) SnapshotEmitted(s metadata.Snapshot) { w.m.snapshots.Inc() }

// place is where this agent runs, as metadata sees it.
type place struct {
	Stack     string
	Host      *metadata.Host
	Container *metadata.Container // the container of `service` on this agent's host, if any
}

// locate finds this agent's stack, host and container of the named service. On the managed
// network metadata names our container directly; with host networking it only names the host, and
// the container is the service's one on that host.
func locate(s metadata.Snapshot, stackFlag, service string) (place, error) {
	p := place{Stack: stackFlag, Host: s.Self.Host}
	if c := s.Self.Container; c != nil {
		if p.Stack == "" {
			p.Stack = c.StackName
		}
		if p.Host == nil {
			p.Host = hostByUUID(s, c.HostUUID)
		}
	}
	if p.Host == nil {
		return p, fmt.Errorf("metadata does not say which host this agent runs on (no self/host)")
	}
	if p.Stack == "" {
		// Host networking and no --stack: the one stack that has the service on this host.
		var stacks []string
		for _, svc := range s.Services {
			if !strings.EqualFold(svc.Name, service) {
				continue
			}
			for _, c := range svc.Containers {
				if c.HostUUID == p.Host.UUID {
					stacks = append(stacks, svc.StackName)
					break
				}
			}
		}
		switch len(stacks) {
		case 0:
			return p, fmt.Errorf("no service %q has a container on host %s; set --stack (env STACK_NAME)", service, p.Host.Name)
		case 1:
			p.Stack = stacks[0]
		default:
			return p, fmt.Errorf("services %q of stacks %s all run on host %s; set --stack (env STACK_NAME)", service, strings.Join(stacks, ", "), p.Host.Name)
		}
	}
	for _, svc := range s.Services {
		if !strings.EqualFold(svc.Name, service) || !strings.EqualFold(svc.StackName, p.Stack) {
			continue
		}
		for i := range svc.Containers {
			c := &svc.Containers[i]
			if self := s.Self.Container; self != nil && c.UUID == self.UUID {
				p.Container = c
				break
			}
			if c.HostUUID == p.Host.UUID && (p.Container == nil || c.CreateIndex < p.Container.CreateIndex) {
				p.Container = c
			}
		}
	}
	return p, nil
}

func hostByUUID(s metadata.Snapshot, uuid string) *metadata.Host {
	for i := range s.Hosts {
		if s.Hosts[i].UUID == uuid {
			return &s.Hosts[i]
		}
	}
	return nil
}

// selfAddress is the canonical address of the mongod beside this agent: what the set's config
// calls it. It does not depend on the container being usable yet.
func selfAddress(p place, source string, port int) (string, error) {
	ip := p.Host.AgentIP
	if source == string(metadata.AddressContainerIP) {
		if p.Container == nil {
			return "", fmt.Errorf("no mongo container on host %s to take the address from", p.Host.Name)
		}
		ip = p.Container.PrimaryIP
	}
	if net.ParseIP(ip) == nil {
		return "", fmt.Errorf("host %s has no usable address (%q)", p.Host.Name, ip)
	}
	return net.JoinHostPort(ip, strconv.Itoa(port)), nil
}

func topologyOptions(c *commonConfig, stack string) metadata.TopologyOptions {
	return metadata.TopologyOptions{
		Stack:         stack,
		Service:       c.MongoService,
		AddressSource: metadata.AddressSource(c.AddressSource),
		Port:          c.Port,
	}
}

// follow runs w and hands every snapshot to apply, one at a time, until ctx ends. While apply
// works, the watcher keeps only the newest change waiting, so a burst costs one more apply.
func follow(ctx context.Context, w *metadata.Watcher, apply func(metadata.Snapshot)) {
	snaps := make(chan metadata.Snapshot)
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx, snaps) }()
	for {
		select {
		case s := <-snaps:
			apply(s)
		case <-ctx.Done():
			<-done
			return
		}
	}
}
