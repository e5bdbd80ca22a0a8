package agent

import (
	"fmt"
	"time"
)

// mongoConfig is the mongo role's configuration.
type mongoConfig struct {
	commonConfig
	listenFlag
	letschatServiceFlag
	keyFileFlags
	appUserFlags

	MongodAddress  string
	Recheck        time.Duration
	NoPrimaryAlarm time.Duration
	ActionTimeout  time.Duration
	Heartbeat      time.Duration
	StepDownPeriod time.Duration
	InitiateSettle time.Duration
	Database       string // Let's Chat's database, on which its user gets readWrite

	Command []string // optional mongod command line after "--"
}

func (c *mongoConfig) options() *optionSet {
	s := newOptionSet("mongo", "Keeps the replica set's membership in step with the mongo service's containers in Rancher\nmetadata: initiates once, adds, promotes and removes members one safe step at a time, and only\nfrom the primary. With '-- mongod ...' it also runs mongod as its child.")
	c.commonConfig.register(s, true)
	c.listenFlag.register(s)
	c.letschatServiceFlag.register(s)
	s.String(&c.MongodAddress, "mongod-address", "MONGOD_ADDRESS", "127.0.0.1:27017", "the local mongod, reached by direct connection")
	s.Duration(&c.Recheck, "recheck-interval", "RECHECK_INTERVAL", 5*time.Second, "how often the set is re-read without a metadata change")
	s.Duration(&c.NoPrimaryAlarm, "no-primary-alarm", "NO_PRIMARY_ALARM", 30*time.Second, "how long without a primary before the agent raises the alarm")
	s.Duration(&c.Heartbeat, "heartbeat-interval", "MONGO_HEARTBEAT_INTERVAL", 2*time.Second, "how often the driver checks each mongod (at least 500ms)")
	s.Duration(&c.StepDownPeriod, "step-down-period", "STEP_DOWN_PERIOD", 60*time.Second, "how long a primary asked to step down stays ineligible")
	s.Duration(&c.ActionTimeout, "action-timeout", "ACTION_TIMEOUT", 30*time.Second, "maxTimeMS for each command that changes the set")
	c.keyFileFlags.register(s)
	c.appUserFlags.register(s)
	s.Duration(&c.InitiateSettle, "initiate-settle", "INITIATE_SETTLE", 10*time.Second, "how long metadata's view of the service must stay the same, with no container starting, before the set is initiated")
	s.String(&c.Database, "database", "LETSCHAT_DATABASE", "letschat", "Let's Chat's database: the user the agent creates for Let's Chat gets readWrite on it and nothing else")
	return s
}

func (c *mongoConfig) validate() error {
	if err := c.commonConfig.validate(); err != nil {
		return err
	}
	if err := c.listenFlag.validate(); err != nil {
		return err
	}
	if err := checkHostPort("mongod-address", "MONGOD_ADDRESS", c.MongodAddress); err != nil {
		return err
	}
	if err := c.validateSecrets(); err != nil {
		return err
	}
	if err := checkDatabaseName(c.Database); err != nil {
		return err
	}
	if c.Recheck <= 0 {
		return usagef("--recheck-interval (env RECHECK_INTERVAL) must be positive")
	}
	if c.NoPrimaryAlarm <= 0 {
		return usagef("--no-primary-alarm (env NO_PRIMARY_ALARM) must be positive")
	}
	if c.Heartbeat < 500*time.Millisecond {
		return usagef("--heartbeat-interval (env MONGO_HEARTBEAT_INTERVAL): %s is below the driver's minimum of 500ms", c.Heartbeat)
	}
	if c.StepDownPeriod < time.Second {
		return usagef("--step-down-period (env STEP_DOWN_PERIOD): %s is below 1s", c.StepDownPeriod)
	}
	if c.InitiateSettle <= 0 {
		return usagef("--initiate-settle (env INITIATE_SETTLE) must be positive")
	}
	if c.ActionTimeout < time.Second {
		return usagef("--action-timeout (env ACTION_TIMEOUT): %s is below 1s", c.ActionTimeout)
	}
	return nil
}

func (c *mongoConfig) String() string {
	return fmt.Sprintf("%s mongod=%s", c.commonConfig.String(), c.MongodAddress)
}
