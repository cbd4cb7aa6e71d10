package workshop

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/kindlab/kindlab/internal/clock"
)

// config holds every setting an Option can change. Each constructor reads
// the fields it uses and ignores the others.
type config struct {
	clock     clock.Clock
	log       *slog.Logger
	rand      io.Reader
	queueLen  int
	failLimit int
}

// Option configures NewRegistry, NewHub or NewGrid. An option that does not
// concern a constructor is ignored by it (WithQueueLen by NewGrid, and so on).
type Option interface {
	apply(*config) error
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

func newConfig(opts []Option) (config, error) {
	c := config{
		clock:     clock.System{},
		log:       slog.New(slog.DiscardHandler),
		queueLen:  DefaultQueueLen,
		failLimit: DefaultFailLimit,
	}
	for _, o := range opts {
		if o == nil {
			return c, errors.New("nil option")
		}
		if err := o.apply(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// WithClock sets the clock (Registry: creation and join times, end of
// workshop; Grid: time on a step).
func WithClock(c clock.Clock) Option {
	return optionFunc(func(cfg *config) error {
		if c == nil {
			return errors.New("clock: must not be nil")
		}
		cfg.clock = c
		return nil
	})
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(cfg *config) error {
		if l == nil {
			return errors.New("logger: must not be nil")
		}
		cfg.log = l
		return nil
	})
}

// WithRandom sets the source of randomness for IDs, join codes and
// instructor tokens (Registry). The default is crypto/rand; only tests should
// change it.
func WithRandom(r io.Reader) Option {
	return optionFunc(func(cfg *config) error {
		if r == nil {
			return errors.New("random source: must not be nil")
		}
		cfg.rand = r
		return nil
	})
}

// WithQueueLen sets how many events may wait for one Hub subscriber before it
// is dropped. The default is DefaultQueueLen.
func WithQueueLen(n int) Option {
	return optionFunc(func(cfg *config) error {
		if n <= 0 {
			return fmt.Errorf("queue length %d: must be positive", n)
		}
		cfg.queueLen = n
		return nil
	})
}

// WithFailLimit sets how many consecutive failures of one check make a
// learner Stuck (Grid). The default is DefaultFailLimit.
func WithFailLimit(n int) Option {
	return optionFunc(func(cfg *config) error {
		if n <= 0 {
			return fmt.Errorf("fail limit %d: must be positive", n)
		}
		cfg.failLimit = n
		return nil
	})
}
