package s3sqssource

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
)

// sqsProxy stands in front of goaws v0.5.4 and adds what the source needs
// from SQS that goaws lacks, so that the real SDK client talks the real
// wire protocol to both:
//   - ChangeMessageVisibilityBatch, answered with one ChangeMessageVisibility
//     per entry against goaws;
//   - ApproximateReceiveCount, which goaws always reports as 1: the proxy
//     counts the receipts of each MessageId, as SQS does.
//
// Tests may make ChangeMessageVisibilityBatch fail (the whole call or every
// entry) or hang, and read how it was called.
type sqsProxy struct {
	next http.Handler

	mu       sync.Mutex
	receives map[string]int // by MessageId

	visCalls   atomic.Int64 // ChangeMessageVisibilityBatch calls
	visEntries atomic.Int64 // their entries
	maxEntries atomic.Int64 // the most entries of one call
	visFail    atomic.Int32 // one of the vis* modes
	visHang    atomic.Int64 // calls still to hang until the client gives up
}

// ChangeMessageVisibilityBatch failure modes.
const (
	visOK          = iota
	visFailCall    // 500 InternalError
	visFailEntries // 200 with every entry in Failed
)

func newSQSProxy(next http.Handler) *sqsProxy {
	return &sqsProxy{next: next, receives: map[string]int{}}
}

func (p *sqsProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Header.Get("X-Amz-Target") {
	case "AmazonSQS.ChangeMessageVisibilityBatch":
		p.changeVisibilityBatch(w, r)
	case "AmazonSQS.ReceiveMessage":
		p.receiveMessage(w, r)
	default:
		p.next.ServeHTTP(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (p *sqsProxy) changeVisibilityBatch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		QueueUrl string
		Entries  []struct {
			Id                string
			ReceiptHandle     string
			VisibilityTimeout int
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"__type": "com.amazonaws.sqs#InvalidParameterValue", "message": err.Error()})
		return
	}
	p.visCalls.Add(1)
	p.visEntries.Add(int64(len(in.Entries)))
	for n := int64(len(in.Entries)); ; {
		cur := p.maxEntries.Load()
		if n <= cur || p.maxEntries.CompareAndSwap(cur, n) {
			break
		}
	}
	if p.visHang.Add(-1) >= 0 {
		<-r.Context().Done()
		return
	}
	type entry struct {
		Id          string
		Code        string `json:",omitempty"`
		Message     string `json:",omitempty"`
		SenderFault bool   `json:",omitempty"`
	}
	out := struct{ Successful, Failed []entry }{Successful: []entry{}, Failed: []entry{}}
	switch p.visFail.Load() {
	case visFailCall:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"__type": "com.amazonaws.sqs#InternalError", "message": "injected failure"})
		return
	case visFailEntries:
		for _, e := range in.Entries {
			out.Failed = append(out.Failed, entry{Id: e.Id, Code: "ReceiptHandleIsInvalid", Message: "injected failure", SenderFault: true})
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	for _, e := range in.Entries {
		body, _ := json.Marshal(map[string]any{"QueueUrl": in.QueueUrl, "ReceiptHandle": e.ReceiptHandle, "VisibilityTimeout": e.VisibilityTimeout})
		req := httptest.NewRequestWithContext(r.Context(), http.MethodPost, r.URL.String(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "AmazonSQS.ChangeMessageVisibility")
		rec := httptest.NewRecorder()
		p.next.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			out.Successful = append(out.Successful, entry{Id: e.Id})
		} else {
			out.Failed = append(out.Failed, entry{Id: e.Id, Code: "MessageNotInflight", Message: rec.Body.String(), SenderFault: true})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *sqsProxy) receiveMessage(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	body, _ := io.ReadAll(rec.Body)
	var out map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(body, &out) != nil {
		copyResponse(w, rec, body)
		return
	}
	msgs, _ := out["Messages"].([]any)
	p.mu.Lock()
	for _, m := range msgs {
		m, ok := m.(map[string]any)
		if !ok {
			continue
		}
		id, _ := m["MessageId"].(string)
		p.receives[id]++
		attrs, _ := m["Attributes"].(map[string]any)
		if attrs == nil {
			attrs = map[string]any{}
			m["Attributes"] = attrs
		}
		attrs["ApproximateReceiveCount"] = strconv.Itoa(p.receives[id])
	}
	p.mu.Unlock()
	body, _ = json.Marshal(out)
	rec.Header().Del("Content-Length")
	copyResponse(w, rec, body)
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}
