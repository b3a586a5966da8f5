package emulator

import (
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/gpubms/gpubms/server/signature"
)

// maxNonceLen bounds a SignatureNonce (a UUID is 36 bytes), so that the
// nonces remembered against replays take bounded memory.
const maxNonceLen = 128

var commonParams = []string{
	signature.ParamAction, signature.ParamAccessKeyID, signature.ParamSignatureMethod,
	signature.ParamSignatureNonce, signature.ParamSignatureVersion, signature.ParamTimestamp,
	signature.ParamVersion, signature.ParamSignature,
}

// authenticate applies the checks every request goes through, in the order
// the package documentation gives.
func (e *Emulator) authenticate(method string, q url.Values) error {
	for _, p := range commonParams {
		if q.Get(p) == "" {
			return empty(p)
		}
	}
	if q.Get(signature.ParamVersion) != signature.APIVersion {
		return apiErr(codeInvalidVersion, "不支持的版本, 应为%s", signature.APIVersion)
	}
	if q.Get(signature.ParamAccessKeyID) != e.opts.accessKeyID {
		return apiErr(codeInvalidAccessKeyID, "AccessKeyId不存在")
	}
	ts, err := time.Parse(signature.TimestampForm, q.Get(signature.ParamTimestamp))
	if err != nil {
		return invalid(signature.ParamTimestamp, "格式应为"+signature.TimestampForm)
	}
	now := e.opts.clock.Now()
	if ts.Before(now.Add(-e.opts.skew)) || ts.After(now.Add(e.opts.skew)) {
		return apiErr(codeRequestExpired, "请求已过期: Timestamp与服务器时间相差超过%v", e.opts.skew)
	}
	switch err := signature.Verify(method, q, e.opts.secret); {
	case errors.Is(err, signature.ErrBadMethod):
		return invalid(signature.ParamSignatureMethod, "仅支持HMAC-SHA1, SignatureVersion 1.0")
	case err != nil:
		return apiErr(codeSignatureDoesNotMatch, "签名不匹配")
	}
	nonce := q.Get(signature.ParamSignatureNonce)
	if len(nonce) > maxNonceLen {
		return invalid(signature.ParamSignatureNonce, fmt.Sprintf("长度不超过%d", maxNonceLen))
	}
	if !e.nonces.add(nonce, now) {
		return apiErr(codeSignatureNonceUsed, "SignatureNonce已被使用")
	}
	return nil
}

// nonceCache remembers verified nonces for ttl, at most max of them; when
// full, the oldest goes first. Entries are queued in insertion order, which is
// expiry order up to a moment (same ttl; concurrent requests read the clock
// before taking the lock): an entry behind a later one is pruned a moment late.
type nonceCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	seen  map[string]struct{}
	queue []nonceEntry
	head  int // queue[:head] are gone
}

type nonceEntry struct {
	nonce   string
	expires time.Time
}

func newNonceCache(ttl time.Duration, max int) *nonceCache {
	return &nonceCache{ttl: ttl, max: max, seen: map[string]struct{}{}}
}

// add records nonce and reports whether it was new.
func (c *nonceCache) add(nonce string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.head < len(c.queue) && !c.queue[c.head].expires.After(now) {
		c.pop()
	}
	if _, ok := c.seen[nonce]; ok {
		return false
	}
	if len(c.seen) >= c.max {
		c.pop()
	}
	c.seen[nonce] = struct{}{}
	c.queue = append(c.queue, nonceEntry{nonce, now.Add(c.ttl)})
	return true
}

func (c *nonceCache) pop() {
	delete(c.seen, c.queue[c.head].nonce)
	c.queue[c.head] = nonceEntry{}
	c.head++
	if c.head == len(c.queue) {
		c.queue, c.head = c.queue[:0], 0
	} else if c.head > 1024 && c.head > len(c.queue)/2 {
		c.queue, c.head = append([]nonceEntry(nil), c.queue[c.head:]...), 0
	}
}

func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
