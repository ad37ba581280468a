package daemon

import "context"

// SetAfterResolveLanded installs a hook that runs after a resolve landed on
// chain and before the leader records it; returning true skips the record.
func SetAfterResolveLanded(c *Config, f func(ctx context.Context, id uint64, tx string) bool) {
	c.afterResolveLanded = f
}
