package mongors

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// BuildInfo is the part of a server's buildInfo the agent reads: its version.
type BuildInfo struct {
	// Version is the release, for example "5.0.31".
	Version string
}

// BuildInfo returns addr's buildInfo. A server too old for the driver fails here with the
// driver's compatibility error, like every other command.
func (d *DriverClient) BuildInfo(ctx context.Context, addr string) (BuildInfo, error) {
	raw, err := d.run(ctx, addr, "buildInfo", bson.D{{Key: "buildInfo", Value: 1}})
	if err != nil {
		return BuildInfo{}, err
	}
	v, ok := raw.Lookup("version").StringValueOK()
	if !ok || v == "" {
		return BuildInfo{}, fmt.Errorf("buildInfo on %s: reply has no version", addr)
	}
	return BuildInfo{Version: v}, nil
}
