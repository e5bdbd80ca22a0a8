package mongosim

import (
	"encoding/base64"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/replset-agent/replset-agent/mongosim/scram"
)

// saslState is a connection's SASL conversation in progress.
type saslState struct {
	db       string
	mech     *scram.Mechanism
	conv     *scram.Conversation
	asString bool // the client sent its payload as a base64 string: answer the same way
	// speculative is true when the conversation began inside hello (speculativeAuthenticate).
	speculative bool
}

// authFailed is all a client learns when authentication fails, whatever the reason.
func authFailed() *CommandError {
	return cmdErr(CodeAuthenticationFailed, "Authentication failed.")
}

// payloadArg reads a SASL payload: BinData, or (from old clients) a base64 string.
func payloadArg(cmd string, body bson.Raw) ([]byte, bool, *CommandError) {
	v, err := body.LookupErr("payload")
	if err != nil {
		return nil, false, cmdErr(CodeMissingRequiredField, "BSON field '%s.payload' is missing but a required field", cmd)
	}
	if _, data, ok := v.BinaryOK(); ok {
		return data, false, nil
	}
	if s, ok := v.StringValueOK(); ok {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, true, cmdErr(CodeBadValue, "Invalid base64 payload")
		}
		return b, true, nil
	}
	return nil, false, cmdErr(CodeTypeMismatch, "BSON field '%s.payload' is the wrong type '%s', expected types '[string, binData]'", cmd, typeName(v.Type))
}

func skipEmptyExchange(body bson.Raw) bool {
	b, _ := asBool(body.Lookup("options", "skipEmptyExchange"))
	return b
}

func (cc *cmdCtx) session() *authSession {
	if cc.sess == nil {
		cc.sess = newAuthSession(nil)
	}
	return cc.sess
}

func (cc *cmdCtx) saslStart() (bson.D, error) {
	mech, ok := cc.body.Lookup("mechanism").StringValueOK()
	if !ok {
		return nil, cmdErr(CodeMissingRequiredField, "BSON field 'saslStart.mechanism' is missing but a required field")
	}
	payload, asString, cerr := payloadArg("saslStart", cc.body)
	if cerr != nil {
		return nil, cerr
	}
	reply, cerr := cc.startSASL(cc.dbName(), mech, payload, asString, skipEmptyExchange(cc.body), false)
	if cerr != nil {
		return nil, cerr
	}
	return reply, nil
}

// startSASL begins a new conversation on the connection, replacing any unfinished one, and runs
// its first step.
func (cc *cmdCtx) startSASL(db, mechName string, payload []byte, asString, skip, speculative bool) (bson.D, *CommandError) {
	sess := cc.session()
	sess.sasl = nil
	mech, ok := scram.ByName(mechName)
	if !ok {
		return nil, cmdErr(CodeMechanismUnavailable, "Received authentication for mechanism %s which is not enabled", mechName)
	}
	c, n := cc.c, cc.n
	conv, err := scram.NewConversation(scram.ServerConfig{
		Mechanism: mech,
		Lookup: func(user string) (scram.Credential, bool) {
			u, ok := c.userLocked(n, user, db)
			if !ok {
				return scram.Credential{}, false
			}
			cred, ok := u.Creds[mech.Name()]
			return cred, ok
		},
		SkipEmptyExchange: skip,
	})
	if err != nil {
		return nil, cmdErr(CodeBadValue, "%v", err)
	}
	sess.sasl = &saslState{db: db, mech: mech, conv: conv, asString: asString, speculative: speculative}
	return cc.saslStep(payload)
}

func (cc *cmdCtx) saslContinue() (bson.D, error) {
	sess := cc.session()
	if sess.sasl == nil {
		return nil, cmdErr(CodeProtocolError, "No SASL session state found")
	}
	if id, ok := asInt(cc.body.Lookup("conversationId")); !ok || id != 1 {
		return nil, cmdErr(CodeProtocolError, "sasl: Mismatched conversation id")
	}
	payload, _, cerr := payloadArg("saslContinue", cc.body)
	if cerr != nil {
		return nil, cerr
	}
	reply, cerr := cc.saslStep(payload)
	if cerr != nil {
		return nil, cerr
	}
	return reply, nil
}

// saslStep feeds one client message to the conversation. Success logs the user in; any failure
// ends the conversation with "Authentication failed.".
func (cc *cmdCtx) saslStep(payload []byte) (bson.D, *CommandError) {
	sess := cc.sess
	st := sess.sasl
	out, done, err := st.conv.Step(payload)
	log := cc.c.logf(cc.n).WithField("mechanism", st.mech.Name()).WithField("user", st.conv.Username()+"@"+st.db).
		WithField("speculative", st.speculative)
	if err != nil {
		sess.sasl = nil
		log.WithError(err).Info("authentication failed")
		return nil, authFailed()
	}
	if done {
		sess.sasl = nil
		who := userName{st.conv.Username(), st.db}
		if _, ok := cc.c.userLocked(cc.n, who.User, who.DB); !ok {
			log.Info("authentication failed: the user was dropped during the conversation")
			return nil, authFailed()
		}
		if prev := sess.user; prev != nil && *prev != who {
			if prev.DB != who.DB {
				return nil, cmdErr(CodeAuthenticatedTwice, "Each client connection may only be authenticated once. Previously authenticated as: %s", prev)
			}
			return nil, cmdErr(CodeAuthenticatedSameDB, "Client has attempted to authenticate on multiple databases.Already authenticated as: %s", prev)
		}
		sess.user = &who
		log.Info("authentication succeeded")
	}
	var p any = bson.Binary{Subtype: bson.TypeBinaryGeneric, Data: out}
	if st.asString {
		p = base64.StdEncoding.EncodeToString(out)
	}
	return bson.D{
		{Key: "conversationId", Value: int32(1)},
		{Key: "done", Value: done},
		{Key: "payload", Value: p},
	}, nil
}

// helloAuthFields adds what hello answers about authentication: the mechanisms of the user named
// in saslSupportedMechs ("db.user"), and the first step of a speculative authentication.
func (cc *cmdCtx) helloAuthFields(reply bson.D) bson.D {
	if s, ok := cc.body.Lookup("saslSupportedMechs").StringValueOK(); ok {
		if db, user, ok := strings.Cut(s, "."); ok {
			if u, found := cc.c.userLocked(cc.n, user, db); found {
				mechs := bson.A{}
				for _, m := range u.mechanisms() {
					mechs = append(mechs, m)
				}
				reply = append(reply, bson.E{Key: "saslSupportedMechs", Value: mechs})
			}
		}
	}
	spec, ok := cc.body.Lookup("speculativeAuthenticate").DocumentOK()
	if !ok {
		return reply
	}
	// mongod treats any failure here as if no speculative attempt was made: the client then
	// authenticates the ordinary way.
	db, ok1 := spec.Lookup("db").StringValueOK()
	mech, ok2 := spec.Lookup("mechanism").StringValueOK()
	_, hasStart := spec.LookupErr("saslStart")
	if !ok1 || !ok2 || hasStart != nil {
		return reply
	}
	payload, asString, cerr := payloadArg("saslStart", spec)
	if cerr != nil {
		return reply
	}
	first, cerr := cc.startSASL(db, mech, payload, asString, skipEmptyExchange(spec), true)
	if cerr != nil {
		cc.c.logf(cc.n).WithField("code", cerr.Code).Debug("speculative authentication not started")
		return reply
	}
	return append(reply, bson.E{Key: "speculativeAuthenticate", Value: first})
}

func isHello(name string) bool { return name == "hello" || name == "isMaster" || name == "ismaster" }
