package s3sqssource

import (
	"path"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// updateLag sets vpcflow_source_lag_seconds to the age of the oldest
// notification in flight (0 when none is).
func (s *Source) updateLag() {
	var oldest time.Time
	for _, m := range s.unsettled() {
		if oldest.IsZero() || m.sent.Before(oldest) {
			oldest = m.sent
		}
	}
	if oldest.IsZero() {
		s.m.lag.Set(0)
		return
	}
	s.m.lag.Set(max(time.Since(oldest).Seconds(), 0))
}

// pollQueueStats keeps vpcflow_source_queue_messages current. Its first
// call also makes the source ready without waiting for a long poll to end;
// with queue_stats_interval 0 it is the only call.
func (s *Source) pollQueueStats() {
	var tick <-chan time.Time
	if s.cfg.QueueStatsInterval > 0 {
		t := time.NewTicker(s.cfg.QueueStatsInterval)
		defer t.Stop()
		tick = t.C
	}
	// Without dead_letter_queue_url, notifications whose object cannot be
	// read rely on the queue's redrive policy: check once that it has one.
	checked := s.cfg.DeadLetterQueueURL != ""
	for {
		names := []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}
		if !checked {
			names = append(names, types.QueueAttributeNameRedrivePolicy)
		}
		out, err := s.sqs.GetQueueAttributes(s.ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(s.cfg.QueueURL),
			AttributeNames: names,
		})
		if err == nil {
			s.ready.Store(true)
			if v, perr := strconv.ParseFloat(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], 64); perr == nil {
				s.m.queueMessages.Set(v)
			}
			if !checked {
				checked = true
				if out.Attributes[string(types.QueueAttributeNameRedrivePolicy)] == "" {
					s.log.Warn("the queue has no redrive policy and dead_letter_queue_url is not set: a notification whose object cannot be read (NoSuchKey, AccessDenied, corrupt data) is received again every visibility_timeout and abandoned (logged and deleted) after max_receive_attempts receipts",
						"queue", path.Base(s.cfg.QueueURL))
				}
			}
		} else if s.ctx.Err() == nil {
			s.m.sqsErrors.WithLabelValues("GetQueueAttributes").Inc()
		}
		if tick == nil {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-tick:
		}
	}
}
