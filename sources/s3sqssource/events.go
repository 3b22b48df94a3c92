package s3sqssource

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// objectRef names one S3 object announced by a notification.
type objectRef struct {
	Bucket string
	Key    string
	Size   int64
}

func (o objectRef) String() string { return "s3://" + o.Bucket + "/" + o.Key }

// notification is what one SQS message announced.
type notification struct {
	// Objects are the created objects, in message order.
	Objects []objectRef
	// Ignored counts events that are not object creations (s3:TestEvent,
	// ObjectRemoved:*, other EventBridge detail types).
	Ignored int
}

// The three shapes a notification takes on the queue.
type envelope struct {
	// S3 event notification.
	Records []s3Record `json:"Records"`
	Event   string     `json:"Event"` // "s3:TestEvent"

	// SNS notification wrapping one of the others (raw delivery off).
	Type    string  `json:"Type"`
	Message *string `json:"Message"`

	// EventBridge event.
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

type s3Record struct {
	EventSource string `json:"eventSource"`
	EventName   string `json:"eventName"`
	S3          struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
		} `json:"object"`
	} `json:"s3"`
}

type ebDetail struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	} `json:"object"`
}

var errNotNotification = errors.New("not an S3 event notification")

// parseNotification decodes an SQS message body in any of the shapes S3
// event notifications reach a queue: an S3 event (Records[].s3), the same
// wrapped in an SNS notification (Type "Notification", Message a JSON
// string), or an EventBridge "Object Created" event (detail.bucket,
// detail.object). Object keys are URL-decoded (+ is a space) as S3 encodes
// them in notifications.
func parseNotification(body []byte) (notification, error) {
	return parseEnvelope(body, 0)
}

func parseEnvelope(body []byte, depth int) (notification, error) {
	var n notification
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return n, fmt.Errorf("%w: %v", errNotNotification, err)
	}
	switch {
	case e.Type == "Notification" && e.Message != nil:
		if depth > 0 {
			return n, fmt.Errorf("%w: nested SNS envelope", errNotNotification)
		}
		return parseEnvelope([]byte(*e.Message), depth+1)
	case e.Event == "s3:TestEvent":
		n.Ignored++
		return n, nil
	case e.Records != nil:
		for i, r := range e.Records {
			if r.EventSource != "" && r.EventSource != "aws:s3" || !strings.HasPrefix(r.EventName, "ObjectCreated:") {
				n.Ignored++
				continue
			}
			o, err := newRef(r.S3.Bucket.Name, r.S3.Object.Key, r.S3.Object.Size)
			if err != nil {
				return n, fmt.Errorf("Records[%d]: %w", i, err)
			}
			n.Objects = append(n.Objects, o)
		}
		return n, nil
	case e.Detail != nil && e.Source != "":
		if e.Source != "aws.s3" || e.DetailType != "Object Created" {
			n.Ignored++
			return n, nil
		}
		var d ebDetail
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			return n, fmt.Errorf("%w: detail: %v", errNotNotification, err)
		}
		o, err := newRef(d.Bucket.Name, d.Object.Key, d.Object.Size)
		if err != nil {
			return n, fmt.Errorf("detail: %w", err)
		}
		n.Objects = append(n.Objects, o)
		return n, nil
	}
	return n, errNotNotification
}

func newRef(bucket, key string, size int64) (objectRef, error) {
	if bucket == "" || key == "" {
		return objectRef{}, fmt.Errorf("%w: bucket or key missing", errNotNotification)
	}
	k, err := url.QueryUnescape(key)
	if err != nil {
		return objectRef{}, fmt.Errorf("%w: key %q: %v", errNotNotification, key, err)
	}
	return objectRef{Bucket: bucket, Key: k, Size: size}, nil
}
