package mongosim

import (
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Config is a replica-set configuration as stored in local.system.replset.
type Config struct {
	ID      string
	Version int64
	// Term is the term of the primary that installed the config; -1 after a force reconfig.
	Term    int64
	Members []Member
	// ReplicaSetID is fixed at initiate and never changes.
	ReplicaSetID bson.ObjectID
	// Settings holds the settings document as given, minus replicaSetId; it is echoed back.
	Settings Settings
}

// Settings are the config settings the emulator keeps and reports. Durations are milliseconds
// as in the server; the emulator's own timing comes from Options, not from these.
type Settings struct {
	ChainingAllowed            bool
	HeartbeatIntervalMillis    int64
	HeartbeatTimeoutSecs       int64
	ElectionTimeoutMillis      int64
	CatchUpTimeoutMillis       int64
	CatchUpTakeoverDelayMillis int64
}

func defaultSettings() Settings {
	return Settings{
		ChainingAllowed:            true,
		HeartbeatIntervalMillis:    2000,
		HeartbeatTimeoutSecs:       10,
		ElectionTimeoutMillis:      10000,
		CatchUpTimeoutMillis:       -1,
		CatchUpTakeoverDelayMillis: 30000,
	}
}

// Member is one entry of Config.Members.
type Member struct {
	ID                 int64
	Host               string
	ArbiterOnly        bool
	BuildIndexes       bool
	Hidden             bool
	Priority           float64
	Tags               map[string]string
	SecondaryDelaySecs int64
	Votes              int64
	// NewlyAdded marks a voter added by a non-force reconfig that has not yet reached SECONDARY;
	// until the primary clears it, the member counts as votes:0, priority:0.
	NewlyAdded bool
}

// Voting reports whether the member counts as a voter now (newlyAdded members do not).
func (m Member) Voting() bool { return m.Votes > 0 && !m.NewlyAdded }

// Electable reports whether the member may become primary.
func (m Member) Electable() bool {
	return m.Voting() && !m.ArbiterOnly && m.Priority > 0
}

// dataBearingVoter reports whether the member counts for write majorities.
func (m Member) dataBearingVoter() bool { return m.Voting() && !m.ArbiterOnly }

// Clone returns a deep copy.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	d := *c
	d.Members = make([]Member, len(c.Members))
	for i, m := range c.Members {
		m.Tags = maps.Clone(m.Tags)
		d.Members[i] = m
	}
	return &d
}

// Member returns the member with host h.
func (c *Config) Member(h string) (Member, bool) {
	if c == nil {
		return Member{}, false
	}
	for _, m := range c.Members {
		if m.Host == h {
			return m, true
		}
	}
	return Member{}, false
}

// Voters counts voting members (newlyAdded excluded, arbiters included).
func (c *Config) Voters() int {
	n := 0
	for _, m := range c.Members {
		if m.Voting() {
			n++
		}
	}
	return n
}

// MajorityVoteCount is the number of votes an election needs.
func (c *Config) MajorityVoteCount() int { return c.Voters()/2 + 1 }

// WriteMajorityCount is the number of data-bearing voters a majority write needs.
func (c *Config) WriteMajorityCount() int {
	data := 0
	for _, m := range c.Members {
		if m.dataBearingVoter() {
			data++
		}
	}
	return min(c.MajorityVoteCount(), data)
}

// versionTerm is the (version, term) pair configs are ordered by.
type versionTerm struct{ version, term int64 }

func (c *Config) vt() versionTerm { return versionTerm{c.Version, c.Term} }

// newerThan orders configs as the server does: terms first, unless either term is -1 (force),
// then versions only.
func (a versionTerm) newerThan(b versionTerm) bool {
	if a.term == -1 || b.term == -1 || a.term == b.term {
		return a.version > b.version
	}
	return a.term > b.term
}

func (a versionTerm) String() string {
	return "{version: " + itoa(a.version) + ", term: " + itoa(a.term) + "}"
}

// implicitMajorityWC reports whether the config's implicit default write concern is majority.
func (c *Config) implicitMajorityWC() bool {
	arbiters, voters, writable := 0, 0, 0
	for _, m := range c.Members {
		if !m.Voting() {
			continue
		}
		voters++
		if m.ArbiterOnly {
			arbiters++
		} else {
			writable++
		}
	}
	return arbiters == 0 || writable > voters/2+1
}

func (c *Config) votingIDs() []int64 {
	var ids []int64
	for _, m := range c.Members {
		if m.Voting() {
			ids = append(ids, m.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// document renders the config as replSetGetConfig returns it; newlyAdded appears only when asked.
func (c *Config) document(withNewlyAdded bool) bson.D {
	members := bson.A{}
	for _, m := range c.Members {
		tags := bson.D{}
		for _, k := range slices.Sorted(maps.Keys(m.Tags)) {
			tags = append(tags, bson.E{Key: k, Value: m.Tags[k]})
		}
		md := bson.D{
			{Key: "_id", Value: int32(m.ID)},
			{Key: "host", Value: m.Host},
			{Key: "arbiterOnly", Value: m.ArbiterOnly},
			{Key: "buildIndexes", Value: m.BuildIndexes},
			{Key: "hidden", Value: m.Hidden},
			{Key: "priority", Value: m.Priority},
			{Key: "tags", Value: tags},
			{Key: "secondaryDelaySecs", Value: m.SecondaryDelaySecs},
			{Key: "votes", Value: int32(m.Votes)},
		}
		if withNewlyAdded && m.NewlyAdded {
			md = append(md, bson.E{Key: "newlyAdded", Value: true})
		}
		members = append(members, md)
	}
	s := c.Settings
	d := bson.D{
		{Key: "_id", Value: c.ID},
		{Key: "version", Value: int32(c.Version)},
	}
	if c.Term != -1 {
		d = append(d, bson.E{Key: "term", Value: int32(c.Term)})
	}
	return append(d,
		bson.E{Key: "members", Value: members},
		bson.E{Key: "protocolVersion", Value: int64(1)},
		bson.E{Key: "writeConcernMajorityJournalDefault", Value: true},
		bson.E{Key: "settings", Value: bson.D{
			{Key: "chainingAllowed", Value: s.ChainingAllowed},
			{Key: "heartbeatIntervalMillis", Value: int32(s.HeartbeatIntervalMillis)},
			{Key: "heartbeatTimeoutSecs", Value: int32(s.HeartbeatTimeoutSecs)},
			{Key: "electionTimeoutMillis", Value: int32(s.ElectionTimeoutMillis)},
			{Key: "catchUpTimeoutMillis", Value: int32(s.CatchUpTimeoutMillis)},
			{Key: "catchUpTakeoverDelayMillis", Value: int32(s.CatchUpTakeoverDelayMillis)},
			{Key: "getLastErrorModes", Value: bson.D{}},
			{Key: "getLastErrorDefaults", Value: bson.D{{Key: "w", Value: int32(1)}, {Key: "wtimeout", Value: int32(0)}}},
			{Key: "replicaSetId", Value: c.ReplicaSetID},
		}},
	)
}
