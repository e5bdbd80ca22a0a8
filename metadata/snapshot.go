package metadata

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
)

// normalise puts every list in identity order and makes empty lists nil, so that equal data
// decoded from differently ordered answers is equal under reflect.DeepEqual.
func (s *Snapshot) normalise() {
	byUUID := func(a, b Container) int { return strings.Compare(a.UUID, b.UUID) }
	slices.SortStableFunc(s.Hosts, func(a, b Host) int { return strings.Compare(a.UUID, b.UUID) })
	slices.SortStableFunc(s.Containers, byUUID)
	slices.SortStableFunc(s.Stacks, func(a, b Stack) int {
		return cmp.Or(strings.Compare(a.UUID, b.UUID), strings.Compare(a.Name, b.Name))
	})
	// A sidekick's entry shares the primary service's UUID: the name tells them apart.
	slices.SortStableFunc(s.Services, func(a, b Service) int {
		return cmp.Or(strings.Compare(a.UUID, b.UUID), strings.Compare(a.StackName, b.StackName), strings.Compare(a.Name, b.Name))
	})
	for i := range s.Services {
		slices.SortStableFunc(s.Services[i].Containers, byUUID)
		s.Services[i].Containers = nilIfEmpty(s.Services[i].Containers)
	}
	s.Hosts = nilIfEmpty(s.Hosts)
	s.Containers = nilIfEmpty(s.Containers)
	s.Stacks = nilIfEmpty(s.Stacks)
	s.Services = nilIfEmpty(s.Services)
}

func nilIfEmpty[T any](l []T) []T {
	if len(l) == 0 {
		return nil
	}
	return l
}

// EqualData reports whether s and o hold the same data, ignoring Version: a v0.10.1+ server
// changes the version on every reload even when nothing else changed. Snapshots from Decode
// (and so from a Watcher) list everything in identity order, so the order the server chose does
// not matter.
func (s Snapshot) EqualData(o Snapshot) bool {
	s.Version, o.Version = "", ""
	return reflect.DeepEqual(s, o)
}
