package s3sqssource

import (
	"strings"
	"testing"
	"time"
)

func TestParseNotification(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []objectRef
		ignored    int
		wantErr    string
	}{
		{
			name: "s3 event, key url-encoded",
			body: `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"logs"},"object":{"key":"AWSLogs/aws-account-id%3D123456789012/a+b.log.gz","size":42}}}]}`,
			want: []objectRef{{Bucket: "logs", Key: "AWSLogs/aws-account-id=123456789012/a b.log.gz", Size: 42}},
		},
		{
			name:    "s3 event, removal ignored",
			body:    `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"logs"},"object":{"key":"k"}}},{"eventSource":"aws:s3","eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"logs"},"object":{"key":"k2"}}}]}`,
			want:    []objectRef{{Bucket: "logs", Key: "k2"}},
			ignored: 1,
		},
		{
			name:    "test event",
			body:    `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T10:00:00.000Z","Bucket":"logs","RequestId":"X","HostId":"Y"}`,
			ignored: 1,
		},
		{
			name: "sns wrapped",
			body: `{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:123456789012:t","Message":"{\"Records\":[{\"eventSource\":\"aws:s3\",\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"x%2Fy.log.gz\"}}}]}"}`,
			want: []objectRef{{Bucket: "b", Key: "x/y.log.gz"}},
		},
		{
			name:    "sns wrapped test event",
			body:    `{"Type":"Notification","Message":"{\"Event\":\"s3:TestEvent\"}"}`,
			ignored: 1,
		},
		{
			name: "eventbridge",
			body: `{"version":"0","id":"1","detail-type":"Object Created","source":"aws.s3","account":"123456789012","region":"us-east-1","detail":{"version":"0","bucket":{"name":"b"},"object":{"key":"AWSLogs/k.log.gz","size":7}}}`,
			want: []objectRef{{Bucket: "b", Key: "AWSLogs/k.log.gz", Size: 7}},
		},
		{
			name:    "eventbridge other detail type",
			body:    `{"version":"0","detail-type":"Object Deleted","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`,
			ignored: 1,
		},
		{name: "not json", body: `hello`, wantErr: "not an S3 event notification"},
		{name: "unknown json", body: `{"foo":1}`, wantErr: "not an S3 event notification"},
		{name: "missing key", body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{}}}]}`, wantErr: "Records[0]"},
		{name: "bad escape", body: `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}`, wantErr: "%zz"},
		{name: "nested sns", body: `{"Type":"Notification","Message":"{\"Type\":\"Notification\",\"Message\":\"{}\"}"}`, wantErr: "nested"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := parseNotification([]byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(n.Objects) != len(tc.want) {
				t.Fatalf("objects = %+v, want %+v", n.Objects, tc.want)
			}
			for i := range tc.want {
				if n.Objects[i] != tc.want[i] {
					t.Errorf("object %d = %+v, want %+v", i, n.Objects[i], tc.want[i])
				}
			}
			if n.Ignored != tc.ignored {
				t.Errorf("ignored = %d, want %d", n.Ignored, tc.ignored)
			}
		})
	}
}

func TestKeyOrigin(t *testing.T) {
	for _, tc := range []struct{ key, account, region string }{
		{"AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/25/123456789012_vpcflowlogs_eu-west-1_fl-1_20261125T1000Z_abcd.log.gz", "123456789012", "eu-west-1"},
		{"prefix/x/AWSLogs/123456789012/vpcflowlogs/us-gov-west-1/2026/11/25/10/f.log.gz", "123456789012", "us-gov-west-1"},
		{"AWSLogs/aws-account-id=210987654321/aws-service=vpcflowlogs/aws-region=ap-southeast-2/year=2026/month=11/day=25/hour=10/f.log.parquet", "210987654321", "ap-southeast-2"},
		{"custom/123456789012_vpcflowlogs_us-east-2_fl-1234_20261125T1000Z_hash.log.gz", "123456789012", "us-east-2"},
		{"AWSLogs/12345/vpcflowlogs/eu-west-1/f.log.gz", "", ""},
		{"AWSLogs/123456789012/cloudtrail/eu-west-1/f.json.gz", "", ""},
		{"plain.log", "", ""},
		{"AWSLogs", "", ""},
	} {
		a, r := keyOrigin(tc.key)
		if a != tc.account || r != tc.region {
			t.Errorf("keyOrigin(%q) = %q, %q; want %q, %q", tc.key, a, r, tc.account, tc.region)
		}
	}
}

func TestRegionFromQueueURL(t *testing.T) {
	for u, want := range map[string]string{
		"https://sqs.eu-central-1.amazonaws.com/123456789012/q": "eu-central-1",
		"https://us-west-2.queue.amazonaws.com/123456789012/q":  "us-west-2",
		"http://127.0.0.1:4100/000000000000/q":                  "",
	} {
		if got := regionFromQueueURL(u); got != want {
			t.Errorf("regionFromQueueURL(%q) = %q, want %q", u, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() *Config {
		c := NewDefaultConfig()
		c.QueueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/flow-logs"
		return c
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name    string
		mut     func(*Config)
		wantErr []string
	}{
		{"no queue", func(c *Config) { c.QueueURL = "" }, []string{"queue_url must be set"}},
		{"bad queue", func(c *Config) { c.QueueURL = "sqs/q" }, []string{"queue_url"}},
		{"dlq same", func(c *Config) { c.DeadLetterQueueURL = c.QueueURL }, []string{"dead_letter_queue_url must differ"}},
		{"endpoints", func(c *Config) { c.Endpoint = "x"; c.S3Endpoint = "ftp://a" }, []string{"endpoint:", "s3_endpoint:"}},
		{"role", func(c *Config) { c.RoleARN = "role" }, []string{"role_arn"}},
		{"numbers", func(c *Config) {
			c.Receivers = 0
			c.MaxInFlightObjects = -1
			c.BatchMaxRecords = 0
			c.MaxObjectBytes = -1
			c.MaxReceiveAttempts = 0
		}, []string{"receivers", "max_in_flight_objects", "batch_max_records", "max_object_bytes", "max_receive_attempts"}},
		{"durations", func(c *Config) {
			c.WaitTime = 21 * time.Second
			c.VisibilityTimeout = time.Second
			c.QueueStatsInterval = -time.Second
		}, []string{"wait_time", "visibility_timeout", "queue_stats_interval"}},
		{"lines", func(c *Config) { c.MaxLineBytes = 70000 }, []string{"max_line_bytes"}},
		{"batch bytes", func(c *Config) { c.BatchMaxBytes = 100 }, []string{"batch_max_bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mut(c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}
