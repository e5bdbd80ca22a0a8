package mongosim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

const (
	maxMembers = 50
	maxVoters  = 7
	maxDelay   = 31622400
)

// parsedConfig is a config document as a client sent it, with what the command must check on top
// of the shape.
type parsedConfig struct {
	cfg           *Config
	versionGiven  bool
	termGiven     bool
	term          int64
	replicaSetID  bson.ObjectID
	hasSetID      bool
	hasNewlyAdded bool
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// normalizeHost adds mongod's default port to a bare host name.
func normalizeHost(h string) string {
	if strings.LastIndex(h, ":") > strings.LastIndex(h, "]") {
		return h
	}
	return h + ":27017"
}

// asInt reads a BSON number that must be integral.
func asInt(v bson.RawValue) (int64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return int64(v.Int32()), true
	case bson.TypeInt64:
		return v.Int64(), true
	case bson.TypeDouble:
		f := v.Double()
		if f != math.Trunc(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<62 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

func asFloat(v bson.RawValue) (float64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return float64(v.Int32()), true
	case bson.TypeInt64:
		return float64(v.Int64()), true
	case bson.TypeDouble:
		f := v.Double()
		return f, !math.IsNaN(f)
	}
	return 0, false
}

// asBool reads a flag the way the server coerces it (numbers count as truthy).
func asBool(v bson.RawValue) (bool, bool) {
	switch v.Type {
	case bson.TypeBoolean:
		return v.Boolean(), true
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble:
		f, _ := asFloat(v)
		return f != 0, true
	}
	return false, false
}

func typeErr(field, want string, v bson.RawValue) error {
	return fmt.Errorf("BSON field '%s' is the wrong type '%s', expected type '%s'", field, typeName(v.Type), want)
}

func typeName(t bson.Type) string {
	switch t {
	case bson.TypeDouble:
		return "double"
	case bson.TypeString:
		return "string"
	case bson.TypeEmbeddedDocument:
		return "object"
	case bson.TypeArray:
		return "array"
	case bson.TypeBoolean:
		return "bool"
	case bson.TypeInt32:
		return "int"
	case bson.TypeInt64:
		return "long"
	case bson.TypeNull:
		return "null"
	}
	return t.String()
}

// parseConfig reads a client-supplied config document. Its errors are parse failures (93).
func parseConfig(raw bson.Raw) (*parsedConfig, error) {
	p := &parsedConfig{cfg: &Config{Term: -1, Settings: defaultSettings()}}
	c := p.cfg
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("config is not a valid document: %w", err)
	}
	var haveID, haveMembers bool
	for _, e := range elems {
		v := e.Value()
		switch k := e.Key(); k {
		case "_id":
			if v.Type != bson.TypeString {
				return nil, typeErr("ReplSetConfig._id", "string", v)
			}
			c.ID, haveID = v.StringValue(), true
		case "version":
			n, ok := asInt(v)
			if !ok {
				return nil, typeErr("ReplSetConfig.version", "int", v)
			}
			if n < 1 || n > math.MaxInt32 {
				return nil, fmt.Errorf("version field value of %d is out of range", n)
			}
			c.Version, p.versionGiven = n, true
		case "term":
			n, ok := asInt(v)
			if !ok {
				return nil, typeErr("ReplSetConfig.term", "long", v)
			}
			p.term, p.termGiven = n, true
		case "protocolVersion":
			n, ok := asInt(v)
			if !ok || n != 1 {
				return nil, errors.New("Only protocolVersion 1 is supported")
			}
		case "writeConcernMajorityJournalDefault", "configsvr":
			if _, ok := asBool(v); !ok {
				return nil, typeErr("ReplSetConfig."+k, "bool", v)
			}
		case "members":
			if v.Type != bson.TypeArray {
				return nil, typeErr("ReplSetConfig.members", "array", v)
			}
			if err := p.parseMembers(bson.Raw(v.Value)); err != nil {
				return nil, err
			}
			haveMembers = true
		case "settings":
			if v.Type != bson.TypeEmbeddedDocument {
				return nil, typeErr("ReplSetConfig.settings", "object", v)
			}
			if err := p.parseSettings(bson.Raw(v.Value)); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("BSON field 'ReplSetConfig.%s' is an unknown field.", k)
		}
	}
	if !haveID {
		return nil, errors.New("BSON field 'ReplSetConfig._id' is missing but a required field")
	}
	if !haveMembers {
		return nil, errors.New("BSON field 'ReplSetConfig.members' is missing but a required field")
	}
	return p, nil
}

func (p *parsedConfig) parseSettings(raw bson.Raw) error {
	s := &p.cfg.Settings
	elems, _ := raw.Elements()
	for _, e := range elems {
		v := e.Value()
		k := e.Key()
		var dst *int64
		switch k {
		case "chainingAllowed":
			b, ok := asBool(v)
			if !ok {
				return typeErr("ReplSetConfigSettings.chainingAllowed", "bool", v)
			}
			s.ChainingAllowed = b
			continue
		case "replicaSetId":
			if v.Type != bson.TypeObjectID {
				return typeErr("ReplSetConfigSettings.replicaSetId", "objectId", v)
			}
			p.replicaSetID, p.hasSetID = v.ObjectID(), true
			continue
		case "getLastErrorModes", "getLastErrorDefaults":
			if v.Type != bson.TypeEmbeddedDocument {
				return typeErr("ReplSetConfigSettings."+k, "object", v)
			}
			continue
		case "heartbeatIntervalMillis":
			dst = &s.HeartbeatIntervalMillis
		case "heartbeatTimeoutSecs":
			dst = &s.HeartbeatTimeoutSecs
		case "electionTimeoutMillis":
			dst = &s.ElectionTimeoutMillis
		case "catchUpTimeoutMillis":
			dst = &s.CatchUpTimeoutMillis
		case "catchUpTakeoverDelayMillis":
			dst = &s.CatchUpTakeoverDelayMillis
		default:
			return fmt.Errorf("BSON field 'ReplSetConfigSettings.%s' is an unknown field.", k)
		}
		n, ok := asInt(v)
		if !ok {
			return typeErr("ReplSetConfigSettings."+k, "int", v)
		}
		*dst = n
	}
	return nil
}

func (p *parsedConfig) parseMembers(raw bson.Raw) error {
	vals, _ := raw.Values()
	for i, v := range vals {
		if v.Type != bson.TypeEmbeddedDocument {
			return fmt.Errorf("Expected type of members.%d to be object, but found %s", i, typeName(v.Type))
		}
		m, err := p.parseMember(i, bson.Raw(v.Value))
		if err != nil {
			return err
		}
		p.cfg.Members = append(p.cfg.Members, m)
	}
	return nil
}

func (p *parsedConfig) parseMember(i int, raw bson.Raw) (Member, error) {
	m := Member{BuildIndexes: true, Priority: 1, Votes: 1}
	var haveID, haveHost, havePriority bool
	elems, _ := raw.Elements()
	for _, e := range elems {
		v := e.Value()
		field := "MemberConfig." + e.Key()
		switch e.Key() {
		case "_id":
			n, ok := asInt(v)
			if !ok {
				return m, typeErr(field, "int", v)
			}
			if n < 0 {
				return m, fmt.Errorf("_id field value of %d is out of range.", n)
			}
			m.ID, haveID = n, true
		case "host":
			if v.Type != bson.TypeString {
				return m, typeErr(field, "string", v)
			}
			if v.StringValue() == "" {
				return m, fmt.Errorf("Empty host field in members.%d", i)
			}
			m.Host, haveHost = normalizeHost(v.StringValue()), true
		case "arbiterOnly", "buildIndexes", "hidden", "newlyAdded":
			b, ok := asBool(v)
			if !ok {
				return m, typeErr(field, "bool", v)
			}
			switch e.Key() {
			case "arbiterOnly":
				m.ArbiterOnly = b
			case "buildIndexes":
				m.BuildIndexes = b
			case "hidden":
				m.Hidden = b
			case "newlyAdded":
				p.hasNewlyAdded = true
				m.NewlyAdded = b
			}
		case "priority":
			f, ok := asFloat(v)
			if !ok {
				return m, typeErr(field, "double", v)
			}
			if f < 0 || f > 1000 {
				return m, fmt.Errorf("priority field value of %g is out of range", f)
			}
			m.Priority, havePriority = f, true
		case "votes":
			f, ok := asFloat(v)
			if !ok {
				return m, typeErr(field, "int", v)
			}
			if f != 0 && f != 1 {
				return m, fmt.Errorf("votes field value is %g. Member votes must be either 0 or 1", f)
			}
			m.Votes = int64(f)
		case "secondaryDelaySecs":
			n, ok := asInt(v)
			if !ok {
				return m, typeErr(field, "long", v)
			}
			if n < 0 || n > maxDelay {
				return m, fmt.Errorf("secondaryDelaySecs field value of %d seconds is out of range", n)
			}
			m.SecondaryDelaySecs = n
		case "tags":
			if v.Type != bson.TypeEmbeddedDocument {
				return m, typeErr(field, "object", v)
			}
			tags := map[string]string{}
			te, _ := bson.Raw(v.Value).Elements()
			for _, t := range te {
				if t.Value().Type != bson.TypeString {
					return m, fmt.Errorf("tags.%s field has non-string value of type %s", t.Key(), typeName(t.Value().Type))
				}
				tags[t.Key()] = t.Value().StringValue()
			}
			m.Tags = tags
		default:
			return m, fmt.Errorf("BSON field '%s' is an unknown field.", field)
		}
	}
	if !haveID {
		return m, errors.New("BSON field 'MemberConfig._id' is missing but a required field")
	}
	if !haveHost {
		return m, errors.New("BSON field 'MemberConfig.host' is missing but a required field")
	}
	if m.ArbiterOnly {
		if m.Votes == 0 {
			return m, errors.New("Arbiter must vote (cannot have 0 votes)")
		}
		if len(m.Tags) > 0 {
			return m, errors.New("Cannot set tags on arbiters.")
		}
		// An arbiter's default or explicit priority of 1 silently becomes 0, as in the server.
		if !havePriority || m.Priority == 1 {
			m.Priority = 0
		}
		if m.Priority != 0 {
			return m, errors.New("priority must be 0 when arbiterOnly=true")
		}
	}
	if m.Priority > 0 {
		switch {
		case m.Votes == 0:
			return m, errors.New("priority must be 0 when non-voting (votes:0)")
		case m.Hidden:
			return m, errors.New("priority must be 0 when hidden=true")
		case m.SecondaryDelaySecs > 0:
			return m, errors.New("priority must be 0 when secondaryDelaySecs is used")
		case !m.BuildIndexes:
			return m, errors.New("priority must be 0 when buildIndexes=false")
		}
	}
	return m, nil
}

// validateConfig checks the cross-member rules. For a reconfig its errors are 103.
func validateConfig(c *Config) error {
	if n := len(c.Members); n < 1 || n > maxMembers {
		return fmt.Errorf("Replica set configuration contains %d members, but must have at least 1 and no more than %d", n, maxMembers)
	}
	ids := map[int64]int{}
	hosts := map[string]int{}
	voters, electable, local := 0, 0, 0
	for i, m := range c.Members {
		if j, dup := ids[m.ID]; dup {
			return fmt.Errorf("Found two member configurations with same _id field, members.%d._id == members.%d._id == %d", j, i, m.ID)
		}
		ids[m.ID] = i
		if j, dup := hosts[m.Host]; dup {
			return fmt.Errorf("Found two member configurations with same host field, members.%d.host == members.%d.host == %s", j, i, m.Host)
		}
		hosts[m.Host] = i
		if m.Votes > 0 {
			voters++
		}
		if !m.ArbiterOnly && m.Priority > 0 {
			electable++
		}
		if isLocalhost(m.Host) {
			local++
		}
	}
	if voters < 1 || voters > maxVoters {
		return fmt.Errorf("Replica set configuration contains %d voting members, but must be at least 1 and no more than %d", voters, maxVoters)
	}
	if electable == 0 {
		return errors.New("Replica set configuration must contain at least one non-arbiter member with priority > 0")
	}
	if local != 0 && local != len(c.Members) {
		return fmt.Errorf("Either all host names in a replica set configuration must be localhost references, or none must be; found %d out of %d", local, len(c.Members))
	}
	return nil
}

func isLocalhost(hostport string) bool {
	h := hostport
	if i := strings.LastIndex(h, ":"); i >= 0 {
		h = h[:i]
	}
	// mongod counts the whole 127/8 block as localhost.
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1" || h == "[::1]"
}
