package mongors

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Memory is what the loop remembers between passes so that Plan can stay a pure function. Each
// time is when the condition was first seen in an unbroken run of passes; a zero time or a missing
// key means the condition does not hold.
type Memory struct {
	// AbsentSince maps a config member's host to when it was first seen missing from Desired.
	AbsentSince map[string]time.Time `json:"absentSince,omitempty"`
	// UnreachableSince maps a config member's host to when the primary first reported it
	// unreachable.
	UnreachableSince map[string]time.Time `json:"unreachableSince,omitempty"`
	// NoPrimarySince is when a configured set was first seen without a writable primary.
	NoPrimarySince time.Time `json:"noPrimarySince,omitzero"`
	// SyncingSince maps a config member's host to when the primary first reported it syncing
	// (STARTUP, STARTUP2 or RECOVERING).
	SyncingSince map[string]time.Time `json:"syncingSince,omitempty"`
	// ViewKey identifies the desired view (members and peers with their orders), and ViewSince is
	// when it was first seen in an unbroken run of passes with no container starting; zero while
	// one is. Initiation waits for the view to be settled (rule 1).
	ViewKey   string    `json:"-"`
	ViewSince time.Time `json:"viewSince,omitzero"`
}

// Update returns the memory after a pass that saw d and o at now; m itself is not changed. What a
// pass could not read (no config, no status from a primary, a light re-check) leaves the earlier
// memory as it was, so that a failed read never restarts a grace period nor invents one.
func (m Memory) Update(d Desired, o Observed, now time.Time) Memory {
	next := Memory{AbsentSince: map[string]time.Time{}, UnreachableSince: map[string]time.Time{}, SyncingSince: map[string]time.Time{}}
	if len(d.Starting) == 0 {
		next.ViewKey = d.viewKey()
		next.ViewSince = now
		if next.ViewKey == m.ViewKey && !m.ViewSince.IsZero() {
			next.ViewSince = m.ViewSince
		}
	}
	if o.Config == nil {
		copyTimes(next.AbsentSince, m.AbsentSince)
	} else {
		for _, cm := range o.Config.Members {
			if _, ok := d.member(cm.Host); !ok {
				next.AbsentSince[cm.Host] = earliest(m.AbsentSince[cm.Host], now)
			}
		}
	}
	if o.Status == nil || !o.fromPrimary() || o.Light {
		copyTimes(next.UnreachableSince, m.UnreachableSince)
		copyTimes(next.SyncingSince, m.SyncingSince)
	} else {
		for _, ms := range o.Status.Members {
			if ms.Unreachable() {
				next.UnreachableSince[ms.Name] = earliest(m.UnreachableSince[ms.Name], now)
			}
			if ms.syncing() {
				next.SyncingSince[ms.Name] = earliest(m.SyncingSince[ms.Name], now)
			}
		}
	}
	switch {
	case o.Primary != "":
	case !o.Local.Reachable():
		next.NoPrimarySince = m.NoPrimarySince
	case o.Local.Hello.HasConfig() || o.Config != nil:
		next.NoPrimarySince = earliest(m.NoPrimarySince, now)
	}
	return next
}

func earliest(prev, now time.Time) time.Time {
	if prev.IsZero() || now.Before(prev) {
		return now
	}
	return prev
}

func copyTimes(dst, src map[string]time.Time) {
	for k, v := range src {
		dst[k] = v
	}
}

// since returns how long ago t was, or zero for a zero t.
func since(t, now time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return now.Sub(t)
}

// viewKey identifies the desired view for the settle period of rule 1: its members and its peers
// with their orders, in a canonical order.
func (d Desired) viewKey() string {
	var parts []string
	for _, m := range d.Members {
		parts = append(parts, "m "+m.Host+" "+strconv.Itoa(m.Order))
	}
	for _, p := range d.Peers {
		parts = append(parts, "p "+p.Host+" "+p.Name+" "+strconv.Itoa(p.Order))
	}
	sort.Strings(parts)
	return strings.Join(parts, "|")
}
