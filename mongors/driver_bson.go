package mongors

import (
	"fmt"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// configDoc renders c for replSetInitiate and replSetReconfig. The term is left out (the server
// sets it) and so is newlyAdded (the server refuses it from clients).
func configDoc(c Config) bson.D {
	members := bson.A{}
	for _, m := range c.Members {
		d := bson.D{{Key: "_id", Value: int32(m.ID)}, {Key: "host", Value: m.Host}}
		if m.ArbiterOnly {
			d = append(d, bson.E{Key: "arbiterOnly", Value: true})
		}
		d = append(d,
			bson.E{Key: "hidden", Value: m.Hidden},
			bson.E{Key: "priority", Value: m.Priority},
			bson.E{Key: "votes", Value: int32(m.Votes)})
		if len(m.Tags) > 0 {
			keys := make([]string, 0, len(m.Tags))
			for k := range m.Tags {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			tags := bson.D{}
			for _, k := range keys {
				tags = append(tags, bson.E{Key: k, Value: m.Tags[k]})
			}
			d = append(d, bson.E{Key: "tags", Value: tags})
		}
		members = append(members, append(d, m.Extra...))
	}
	doc := bson.D{
		{Key: "_id", Value: c.Name},
		{Key: "version", Value: int32(c.Version)},
		{Key: "members", Value: members},
	}
	return append(doc, c.Extra...)
}

// parseConfig reads a config document, keeping the fields it does not manage in Extra.
func parseConfig(raw bson.Raw) (Config, error) {
	var c Config
	elems, err := raw.Elements()
	if err != nil {
		return c, fmt.Errorf("parse config: %w", err)
	}
	for _, e := range elems {
		v := e.Value()
		switch e.Key() {
		case "_id":
			c.Name, _ = v.StringValueOK()
		case "version":
			n, _ := v.AsInt64OK()
			c.Version = int(n)
		case "term":
			c.Term, _ = v.AsInt64OK()
		case "members":
			arr, ok := v.ArrayOK()
			if !ok {
				return c, fmt.Errorf("parse config: members is %s, not an array", v.Type)
			}
			vals, err := arr.Values()
			if err != nil {
				return c, fmt.Errorf("parse config members: %w", err)
			}
			for i, mv := range vals {
				doc, ok := mv.DocumentOK()
				if !ok {
					return c, fmt.Errorf("parse config: member %d is not a document", i)
				}
				m, err := parseMember(doc)
				if err != nil {
					return c, fmt.Errorf("parse config member %d: %w", i, err)
				}
				c.Members = append(c.Members, m)
			}
		default:
			c.Extra = append(c.Extra, bson.E{Key: e.Key(), Value: v})
		}
	}
	if c.Name == "" {
		return c, fmt.Errorf("parse config: no set name")
	}
	return c, nil
}

func parseMember(raw bson.Raw) (ConfigMember, error) {
	m := ConfigMember{Votes: 1, Priority: 1}
	elems, err := raw.Elements()
	if err != nil {
		return m, err
	}
	hasID := false
	for _, e := range elems {
		v := e.Value()
		switch e.Key() {
		case "_id":
			n, ok := v.AsInt64OK()
			if !ok {
				return m, fmt.Errorf("_id is %s", v.Type)
			}
			m.ID, hasID = int(n), true
		case "host":
			m.Host, _ = v.StringValueOK()
		case "arbiterOnly":
			m.ArbiterOnly, _ = v.BooleanOK()
		case "hidden":
			m.Hidden, _ = v.BooleanOK()
		case "priority":
			m.Priority, _ = v.AsFloat64OK()
		case "votes":
			n, _ := v.AsInt64OK()
			m.Votes = int(n)
		case "tags":
			doc, ok := v.DocumentOK()
			if !ok {
				continue
			}
			tags, err := doc.Elements()
			if err != nil {
				return m, err
			}
			for _, t := range tags {
				if s, ok := t.Value().StringValueOK(); ok {
					if m.Tags == nil {
						m.Tags = map[string]string{}
					}
					m.Tags[t.Key()] = s
				}
			}
		case "newlyAdded":
			// Server-managed; sending it back is refused (93).
		default:
			m.Extra = append(m.Extra, bson.E{Key: e.Key(), Value: v})
		}
	}
	if !hasID || m.Host == "" {
		return m, fmt.Errorf("member without _id or host")
	}
	return m, nil
}

// helloReply is the wire form of Hello.
type helloReply struct {
	SetName           string   `bson:"setName"`
	SetVersion        int64    `bson:"setVersion"`
	IsWritablePrimary bool     `bson:"isWritablePrimary"`
	IsMaster          bool     `bson:"ismaster"`
	Secondary         bool     `bson:"secondary"`
	Primary           string   `bson:"primary"`
	Me                string   `bson:"me"`
	IsReplicaSet      bool     `bson:"isreplicaset"`
	Hosts             []string `bson:"hosts"`
	Passives          []string `bson:"passives"`
	Arbiters          []string `bson:"arbiters"`
}

func (r helloReply) hello() Hello {
	return Hello{
		SetName:           r.SetName,
		SetVersion:        int(r.SetVersion),
		IsWritablePrimary: r.IsWritablePrimary || r.IsMaster,
		Secondary:         r.Secondary,
		Primary:           r.Primary,
		Me:                r.Me,
		IsReplicaSet:      r.IsReplicaSet,
		Members:           append(append(append([]string(nil), r.Hosts...), r.Passives...), r.Arbiters...),
	}
}

// statusReply is the wire form of Status.
type statusReply struct {
	Set     string `bson:"set"`
	MyState int    `bson:"myState"`
	Term    int64  `bson:"term"`
	Members []struct {
		ID            int           `bson:"_id"`
		Name          string        `bson:"name"`
		Health        float64       `bson:"health"`
		State         int           `bson:"state"`
		StateStr      string        `bson:"stateStr"`
		Self          bool          `bson:"self"`
		ConfigVersion int           `bson:"configVersion"`
		OptimeDate    bson.DateTime `bson:"optimeDate"`
	} `bson:"members"`
}

func (r statusReply) status() ReplStatus {
	s := ReplStatus{Set: r.Set, MyState: r.MyState, Term: r.Term}
	for _, m := range r.Members {
		s.Members = append(s.Members, MemberStatus{
			ID: m.ID, Name: m.Name, Health: m.Health, State: m.State, StateStr: m.StateStr,
			Self: m.Self, ConfigVersion: m.ConfigVersion,
		})
		if m.OptimeDate > 0 {
			s.Members[len(s.Members)-1].Optime = m.OptimeDate.Time()
		}
	}
	return s
}
