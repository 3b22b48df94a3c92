package srcmetrics

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSharedFamilies registers the families for two sources of different
// types in one registry, as a process with a kinesis and an s3_sqs source
// does: both register without error and their series differ by label.
func TestSharedFamilies(t *testing.T) {
	reg := prometheus.NewRegistry()
	var errs []error
	LagSeconds(reg, "kin", &errs).WithLabelValues("shard-0").Set(3)
	LagSeconds(reg, "s3", &errs).WithLabelValues("queue").Set(7)
	LagRecords(reg, "k", &errs).WithLabelValues("t/0").Set(1)
	NewestRecordAge(reg, "k", &errs).WithLabelValues("t/0").Set(1)
	QueueMessages(reg, "s3", &errs).Set(2)
	LeasesHeld(reg, "kin", &errs).Set(1)
	LeasesHeld(reg, "kin2", &errs).Set(1)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "vpcflow_source_lag_seconds"); n != 2 {
		t.Errorf("lag series = %d, want 2", n)
	}
	if n := testutil.CollectAndCount(reg, "vpcflow_source_leases_held"); n != 2 {
		t.Errorf("leases series = %d, want 2", n)
	}
}
