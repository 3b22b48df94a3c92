// Package ackonce enforces, for the sources, that a batch's AckFunc acts
// at most once: a second call changes nothing and returns ErrTwice.
package ackonce

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/vpcflow/vpcflow/processor/component"
)

// ErrTwice is returned by an AckFunc called a second time; the call has no
// effect.
var ErrTwice = errors.New("batch acknowledged twice")

// Guard lets the first Try through. Its zero value is ready; embed it in a
// batch's state to avoid allocating a closure per batch.
type Guard struct{ called atomic.Bool }

// Try returns nil on its first call and ErrTwice on every later one.
func (g *Guard) Try() error {
	if g.called.Swap(true) {
		return ErrTwice
	}
	return nil
}

// Func returns an AckFunc that calls f on its first call only; later calls
// return ErrTwice.
func Func(f func(ctx context.Context, err error)) component.AckFunc {
	var g Guard
	return func(ctx context.Context, err error) error {
		if e := g.Try(); e != nil {
			return e
		}
		f(ctx, err)
		return nil
	}
}
