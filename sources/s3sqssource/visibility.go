package s3sqssource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// maxBatchEntries is the most entries SQS takes in one batch call.
const maxBatchEntries = 10

// Reasons of vpcflow_s3sqs_visibility_failures_total.
const (
	visCall  = "call"  // the whole ChangeMessageVisibilityBatch call failed
	visEntry = "entry" // SQS refused one entry of a call that succeeded
)

// extendTimeout bounds one ChangeMessageVisibilityBatch call of the
// heartbeat: at most half the visibility timeout (the interval between two
// rounds), so a hung call ends before the next round, and at most 30s.
func (s *Source) extendTimeout() time.Duration {
	return min(s.cfg.VisibilityTimeout/2, 30*time.Second)
}

// heartbeat extends the visibility of every message in flight at half the
// visibility timeout, and keeps the lag gauge current. Each round sends
// its ChangeMessageVisibilityBatch calls (10 messages each) concurrently,
// each with its own timeout, and does not wait for them: a slow call
// delays neither the other calls nor the next round.
func (s *Source) heartbeat() {
	extend := time.NewTicker(s.cfg.VisibilityTimeout / 2)
	defer extend.Stop()
	lag := time.NewTicker(time.Second)
	defer lag.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-lag.C:
			s.updateLag()
		case <-extend.C:
			s.extendAll()
		}
	}
}

// extendAll starts one round of visibility extensions.
func (s *Source) extendAll() {
	for chunk := range slices.Chunk(s.unsettled(), maxBatchEntries) {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return
		}
		s.wg.Go(func() {
			ctx, cancel := context.WithTimeout(s.ctx, s.extendTimeout())
			defer cancel()
			// A message settled since the round began is being deleted or
			// released: extending it now would only race with that.
			live := chunk[:0:0]
			for _, m := range chunk {
				m.mu.Lock()
				if !m.settled {
					m.extending++
					live = append(live, m)
				}
				m.mu.Unlock()
			}
			_ = s.changeVisibilityBatch(ctx, live, s.cfg.VisibilityTimeout)
			for _, m := range live {
				m.mu.Lock()
				m.extending--
				if m.extending == 0 {
					m.extended.Broadcast()
				}
				m.mu.Unlock()
			}
		})
		s.mu.Unlock()
	}
}

// waitExtended waits until no heartbeat call is extending m (settled), or
// ctx ends.
func waitExtended(ctx context.Context, m *message) {
	m.mu.Lock()
	if m.extending == 0 {
		m.mu.Unlock()
		return
	}
	ch := m.extended.Chan()
	m.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// changeVisibilityBatch sets the visibility timeout of up to 10 messages
// in one ChangeMessageVisibilityBatch call. Failures, of the call or of
// single entries, are counted per message in
// vpcflow_s3sqs_visibility_failures_total and logged (rate limited); the
// error names how many messages failed.
func (s *Source) changeVisibilityBatch(ctx context.Context, ms []*message, d time.Duration) error {
	if len(ms) == 0 {
		return nil
	}
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(ms))
	for i, m := range ms {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
			Id:                aws.String(strconv.Itoa(i)),
			ReceiptHandle:     aws.String(m.receipt),
			VisibilityTimeout: int32(d / time.Second),
		}
	}
	out, err := s.sqs.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(s.cfg.QueueURL),
		Entries:  entries,
	})
	if err != nil {
		if s.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return err // shutting down: Close releases what is left
		}
		s.m.sqsErrors.WithLabelValues("ChangeMessageVisibilityBatch").Inc()
		s.m.visFailures.WithLabelValues(visCall).Add(float64(len(ms)))
		s.rlog.Warn("changing the visibility of SQS messages failed", "messages", len(ms), "visibility", d, "error", err)
		return fmt.Errorf("change visibility of %d messages: %w", len(ms), err)
	}
	if len(out.Failed) == 0 {
		return nil
	}
	s.m.visFailures.WithLabelValues(visEntry).Add(float64(len(out.Failed)))
	var errs []error
	for _, f := range out.Failed {
		id := ""
		if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i >= 0 && i < len(ms) {
			id = ms[i].id
		}
		s.rlog.Warn("SQS refused to change the visibility of a message", "message_id", id, "visibility", d,
			"code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
		errs = append(errs, fmt.Errorf("change visibility of message %s: %s: %s", id, aws.ToString(f.Code), aws.ToString(f.Message)))
	}
	return errors.Join(errs...)
}

// releaseAll makes ms visible again (visibility 0), 10 messages a call,
// the calls running concurrently. It returns the messages released.
func (s *Source) releaseAll(ctx context.Context, ms []*message) (int, error) {
	var (
		mu       sync.Mutex
		errs     []error
		released int
		wg       sync.WaitGroup
	)
	for chunk := range slices.Chunk(ms, maxBatchEntries) {
		wg.Go(func() {
			err := s.changeVisibilityBatch(ctx, chunk, 0)
			ok := len(chunk) - failedCount(err, len(chunk))
			mu.Lock()
			defer mu.Unlock()
			released += ok
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return released, errors.Join(errs...)
}

// failedCount is how many of n messages err says failed: all of them
// for a failed call, one per joined entry error otherwise.
func failedCount(err error, n int) int {
	if err == nil {
		return 0
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return len(j.Unwrap())
	}
	return n
}
