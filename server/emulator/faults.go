package emulator

import (
	"net/http"
	"strconv"

	"github.com/google/uuid"
)

// enabled reports whether any fault is configured.
func (f *Faults) enabled() bool {
	return f.Latency > 0 || len(f.ErrorRate) > 0 || f.ServerErrorRate > 0 ||
		f.ThrottleRate > 0 || f.MalformedRate > 0 || f.TaskFailureRate > 0 || f.ErrorStateRate > 0
}

// roll reports true with probability p, drawing from the emulator's random
// source only when the outcome is in doubt (so rates of 0 and 1 leave the
// sequence of other draws unchanged).
func (e *Emulator) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	e.randMu.Lock()
	defer e.randMu.Unlock()
	return e.opts.rand.Float64() < p
}

const serviceUnavailable = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n" +
	"<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"

// malformedBody is a reply cut short.
const malformedBody = `{"Code":"Success","Message":"Success.","Data":{"Rec`

// injectFault writes an injected failure for a request of action, if one is
// drawn, and reports whether it did.
func (e *Emulator) injectFault(w http.ResponseWriter, action string) bool {
	f := &e.opts.faults
	switch {
	case e.roll(f.ThrottleRate):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, reply{Code: codeThrottling, Message: "请求过于频繁，请稍后再试", RequestID: uuid.NewString()})
	case e.roll(f.ServerErrorRate):
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Length", strconv.Itoa(len(serviceUnavailable)))
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(serviceUnavailable))
	case e.roll(f.errorRate(action)):
		writeJSON(w, http.StatusBadRequest, reply{Code: codeInternalError, Message: "系统内部错误", RequestID: uuid.NewString()})
	case e.roll(f.MalformedRate):
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(malformedBody))
	default:
		return false
	}
	e.log.Debug("emulator injected a fault", "action", action)
	return true
}
