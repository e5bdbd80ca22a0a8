package mongosim

// MemberState is a replica-set member state as replSetGetStatus reports it.
type MemberState int32

// Member states, numbered as in the server.
const (
	StateStartup    MemberState = 0
	StatePrimary    MemberState = 1
	StateSecondary  MemberState = 2
	StateRecovering MemberState = 3
	StateStartup2   MemberState = 5
	StateUnknown    MemberState = 6
	StateArbiter    MemberState = 7
	StateDown       MemberState = 8
	StateRollback   MemberState = 9
	StateRemoved    MemberState = 10
)

// String returns the server's stateStr.
func (s MemberState) String() string {
	switch s {
	case StateStartup:
		return "STARTUP"
	case StatePrimary:
		return "PRIMARY"
	case StateSecondary:
		return "SECONDARY"
	case StateRecovering:
		return "RECOVERING"
	case StateStartup2:
		return "STARTUP2"
	case StateArbiter:
		return "ARBITER"
	case StateDown:
		return "(not reachable/healthy)"
	case StateRollback:
		return "ROLLBACK"
	case StateRemoved:
		return "REMOVED"
	}
	return "UNKNOWN"
}
