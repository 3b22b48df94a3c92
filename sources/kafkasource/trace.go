package kafkasource

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// headerCarrier reads W3C trace context from Kafka record headers.
type headerCarrier []kgo.RecordHeader

func (h headerCarrier) Get(key string) string {
	for _, kv := range h {
		if len(kv.Key) == len(key) && (kv.Key == key || equalFold(kv.Key, key)) {
			return string(kv.Value)
		}
	}
	return ""
}

func (h headerCarrier) Set(string, string) {}

func (h headerCarrier) Keys() []string {
	keys := make([]string, len(h))
	for i, kv := range h {
		keys[i] = kv.Key
	}
	return keys
}

func equalFold(a, b string) bool {
	for i := range len(a) {
		ca, cb := a[i]|0x20, b[i]|0x20
		if ca != cb {
			return false
		}
	}
	return true
}

var traceContext propagation.TraceContext

// spanFromHeaders returns the remote span context of a traceparent header,
// or an invalid one.
func spanFromHeaders(h []kgo.RecordHeader) trace.SpanContext {
	if headerCarrier(h).Get("traceparent") == "" {
		return trace.SpanContext{}
	}
	ctx := traceContext.Extract(context.Background(), headerCarrier(h))
	return trace.SpanContextFromContext(ctx)
}
