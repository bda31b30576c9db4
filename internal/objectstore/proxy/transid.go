package proxy

import (
	"context"
	"math/rand/v2"
	"net/url"
	"time"
)

type transIDKey struct{}

// WithTransID sets the transaction id of a request: the front of the
// pipeline may set it so that a client request and the sub-requests the
// middlewares make for it share one id in the logs and the X-Trans-Id
// header. The core makes one when none is set.
func WithTransID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, transIDKey{}, id)
}

// TransID is the transaction id of a request, "" before the core or the
// front of the pipeline gave it one.
func TransID(ctx context.Context) string {
	id, _ := ctx.Value(transIDKey{}).(string)
	return id
}

// NewTransID makes an id in Swift's form: "tx", 21 random hex digits, "-",
// the time as 10 hex digits, then the client's X-Trans-Id-Extra (quoted, at
// most 32 bytes) after a "-". Tempest checks the form.
func NewTransID(extra string) string {
	const hex = "0123456789abcdef"
	var b [2 + 21 + 1 + 10]byte
	b[0], b[1] = 't', 'x'
	r1, r2 := rand.Uint64(), rand.Uint64()
	for i := range 21 {
		var d uint64
		if i < 16 {
			d = r1 >> (4 * i)
		} else {
			d = r2 >> (4 * (i - 16))
		}
		b[2+i] = hex[d&0xf]
	}
	b[23] = '-'
	now := uint64(time.Now().Unix())
	for i := 9; i >= 0; i-- {
		b[24+i] = hex[now&0xf]
		now >>= 4
	}
	id := string(b[:])
	if extra != "" {
		if len(extra) > 32 {
			extra = extra[:32]
		}
		id += "-" + url.PathEscape(extra)
	}
	return id
}
