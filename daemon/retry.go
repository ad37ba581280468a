package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// retryEvery runs op every d until it succeeds, returns an error marked
// backoff.Permanent (returned unwrapped), or ctx ends; tries > 0 bounds the
// number of tries. It returns nil or the last error op returned (not ctx's
// error), so the caller can log what went wrong. It is the one retry loop
// of the daemon; the loops that back off between rounds use
// backoff.ExponentialBackOff directly.
func retryEvery(ctx context.Context, d time.Duration, tries uint, op func() error) error {
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := op()
		if err != nil {
			last = err
		}
		return struct{}{}, err
	}, backoff.WithBackOff(backoff.NewConstantBackOff(d)), backoff.WithMaxElapsedTime(0), backoff.WithMaxTries(tries))
	if err != nil && last != nil {
		return last
	}
	return err
}

// pollEvery calls poll every interval until ctx ends. After a failed poll
// the next waits the interval, then twice as long each time up to
// maxWait, logging what failed; a good poll resets it.
func pollEvery(ctx context.Context, interval, maxWait time.Duration, log *slog.Logger, what string, poll func(context.Context) error) {
	failing := growingBackOff(interval, maxWait)
	for {
		err := poll(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := interval
		if err != nil {
			wait = failing.NextBackOff()
			log.Warn(what+" failed; retrying", "err", err, "retry_in", wait)
		} else {
			failing.Reset()
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

// growingBackOff starts at from and doubles up to at most max, without
// jitter.
func growingBackOff(from, max time.Duration) *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{InitialInterval: from, Multiplier: 2, MaxInterval: max}
	b.Reset()
	return b
}
