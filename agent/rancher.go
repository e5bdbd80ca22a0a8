package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/replset-agent/replset-agent/metadata"
)

// This file is the bridge from Rancher metadata to the plain member lists that mongors and
// lcconfig take: the only code that knows both sides.

// newWatcher builds the metadata watcher of a role. sourceIP, when set, binds the requests to that
// local address, which is how the metadata service tells which container is asking.
//
// scope keeps what the role reads of the tree (see mongoScope, letschatScope): the rest of the
// environment costs neither memory nor snapshots.
func newWatcher(c *commonConfig, scope metadata.Scope, log logrus.FieldLogger, m *metrics) (*metadata.Watcher, error) {
	wc := metadata.WatcherConfig{
		BaseURL:      c.MetadataURL,
		Mode:         metadata.Mode(c.MetadataMode),
		MaxWait:      c.MetadataMaxWait,
		PollInterval: c.MetadataInterval,
		BackoffCap:   c.MetadataBackoff,
		MinInterval:  c.MetadataSpacing,
		MaxBodyBytes: c.MetadataMaxBytes,
		Scope:        scope,
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

// mongoScope is what the mongo role and status read: the mongo service in every stack (a
// same-named service elsewhere is what the foreign-set check looks for), self located in it.
func mongoScope(c *commonConfig, letschatService string) metadata.Scope {
	services := []string{c.MongoService}
	if letschatService != "" {
		// Only to know whether Let's Chat is in the stack (the version alarm).
		services = append(services, letschatService)
	}
	return metadata.Scope{Services: services, Self: c.MongoService, Stack: c.Stack}
}

// letschatScope is what the letschat role reads: the mongo service for the URI, its own service
// for its rank, self located in its own service.
func letschatScope(c *commonConfig, letschatService string) metadata.Scope {
	return metadata.Scope{Services: []string{c.MongoService, letschatService}, Self: letschatService}
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
	Container *metadata.Container // the container of `service` this agent is, or is a sidekick of
	Sidekick  string              // the sidekick service metadata named this agent by, if any
}

// errNotLocated means metadata does not (or no longer) name this agent's container: the agent
// waits, since acting on the default self entry would make it believe it runs on the metadata
// server's host.
var errNotLocated = errors.New("this agent's container is not in metadata")

// locate finds this agent's stack, host and container of the named service from metadata's self
// entry, and from nothing else: self/container must be a container of the service (in stackFlag's
// stack when set) or of a sidekick sharing its network. Anything less is errNotLocated with the
// reason.
func locate(s metadata.Snapshot, stackFlag, service string) (place, error) {
	pl := s.Locate(service, stackFlag)
	if pl.State != metadata.SelfLocated {
		return place{}, fmt.Errorf("%w: %s", errNotLocated, pl.Reason)
	}
	if pl.Host == nil {
		return place{}, fmt.Errorf("%w: its host %q is not among the hosts", errNotLocated, pl.Container.HostUUID)
	}
	return place{Stack: pl.Container.StackName, Host: pl.Host, Container: pl.Container, Sidekick: pl.Sidekick}, nil
}

// selfTracker remembers whether a role has found its own container, so that waiting for it, and
// losing it, is logged once per change rather than once per snapshot, and can be reported by
// /readyz and /status.
type selfTracker struct {
	mu      sync.Mutex
	last    string // the container last located ("" if never)
	waiting string // why the role waits; "" while located
	logged  string // the last line logged, to log each change once
}

// note records the outcome of locate for one snapshot and logs it when it differs from the last.
func (t *selfTracker) note(log logrus.FieldLogger, version string, p place, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var line string
	fields := logrus.Fields{"version": version}
	switch {
	case err == nil:
		t.waiting = ""
		t.last = p.Container.Name
		fields["container"], fields["host"], fields["stack"] = p.Container.Name, p.Host.Name, p.Stack
		if p.Sidekick != "" {
			fields["via_sidekick"] = p.Sidekick
		}
		line = "this agent's container found in metadata"
	case t.last != "":
		t.waiting = fmt.Sprintf("this agent's container %s left metadata; waiting until it is listed again (%s)", t.last, notLocatedReason(err))
		line = t.waiting
	default:
		t.waiting = fmt.Sprintf("waiting for metadata to list this agent's container (%s)", notLocatedReason(err))
		line = t.waiting
	}
	key := line
	if err == nil {
		key += " " + p.Container.Name
	}
	if key == t.logged {
		return
	}
	t.logged = key
	if err != nil {
		log.WithFields(fields).Warn(line)
		return
	}
	log.WithFields(fields).Info(line)
}

// notLocatedReason is the reason of a locate error without the words every such error starts with.
func notLocatedReason(err error) string {
	return strings.TrimPrefix(err.Error(), errNotLocated.Error()+": ")
}

// wait returns why the role waits for its container, or "" when it has it.
func (t *selfTracker) wait() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.waiting
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
