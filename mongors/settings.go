package mongors

import "time"

// Defaults applied by Settings for zero fields.
const (
	DefaultSetName        = "letschat"
	DefaultMinMembers     = 3
	DefaultRemovalGrace   = 60 * time.Second
	DefaultNoPrimaryAlarm = 30 * time.Second
	DefaultMaxVoters      = 7
	DefaultInitiateSettle = 10 * time.Second
)

// maxMembers is MongoDB's hard limit on members in a config.
const maxMembers = 50

// Settings tune the planner. The zero value means every default.
type Settings struct {
	// SetName is the one replica set this agent manages; empty means "letschat".
	SetName string `json:"setName"`
	// MinMembers is how many reachable, config-less candidates must be listed before the set is
	// initiated; zero means 3.
	MinMembers int `json:"minMembers"`
	// RemovalGrace is how long a member must be both gone from metadata and unreachable to the set
	// before it is removed; zero means 60 s. It cannot be disabled.
	RemovalGrace time.Duration `json:"removalGrace"`
	// NoPrimaryAlarm is how long the set may have no primary before the wait turns into an alarm;
	// zero means 30 s.
	NoPrimaryAlarm time.Duration `json:"noPrimaryAlarm"`
	// MaxVoters caps voting members (1–7); zero or anything above 7 means 7.
	MaxVoters int `json:"maxVoters"`
	// InitiateSettle is how long the desired view must stay the same (same members and peers, no
	// container starting) before the set is initiated; zero means 10 s. It cannot be disabled.
	InitiateSettle time.Duration `json:"initiateSettle"`
}

// WithDefaults returns s with every zero or out-of-range field replaced by its default.
func (s Settings) WithDefaults() Settings {
	if s.SetName == "" {
		s.SetName = DefaultSetName
	}
	if s.MinMembers <= 0 {
		s.MinMembers = DefaultMinMembers
	}
	if s.RemovalGrace <= 0 {
		s.RemovalGrace = DefaultRemovalGrace
	}
	if s.NoPrimaryAlarm <= 0 {
		s.NoPrimaryAlarm = DefaultNoPrimaryAlarm
	}
	if s.MaxVoters <= 0 || s.MaxVoters > DefaultMaxVoters {
		s.MaxVoters = DefaultMaxVoters
	}
	if s.InitiateSettle <= 0 {
		s.InitiateSettle = DefaultInitiateSettle
	}
	return s
}
