package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nimbus-cloud/nimbus/internal/fault"
)

// DefaultCallTimeout bounds a Call whose context has no deadline.
const DefaultCallTimeout = 30 * time.Second

// Headers of the RPC protocol. The caller's remaining time travels as a
// duration rather than a deadline so that clock skew between hosts is moot.
const (
	hdrTimeout = "Nimbus-Timeout" // e.g. "1.5s"
	hdrStatus  = "Nimbus-Status"  // "error" on a failed call; the body is an rpcFailure
)

// RPCError is a handler's error as the caller sees it. It unwraps to a
// *fault.Error of the same kind, so fault.KindOf works across the bus.
type RPCError struct {
	Subject string
	Kind    fault.Kind
	Type    string // fault.Error.Type, if the handler set one
	Msg     string
}

func (e *RPCError) Error() string { return e.Subject + ": " + e.Msg }

func (e *RPCError) Unwrap() error { return &fault.Error{Kind: e.Kind, Type: e.Type, Msg: e.Msg} }

// rpcFailure is the body of an error reply. The kind travels as its HTTP
// status, the one stable encoding fault already has.
type rpcFailure struct {
	Status  int    `json:"status"`
	Type    string `json:"type,omitempty"`
	Message string `json:"message"`
}

// Handler answers one request; req and the returned body are JSON.
type Handler func(ctx context.Context, req []byte) ([]byte, error)

// Serve answers requests on subject. Every server of a subject joins the
// queue group named after it, so each request reaches exactly one of them.
// Requests are handled concurrently; ctx carries the caller's deadline.
// stop unsubscribes and waits for requests in flight.
func (b *Bus) Serve(subject string, h Handler) (stop func(), err error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	var g gate
	sub, err := b.nc.QueueSubscribe(subject, subject, func(m *nats.Msg) {
		if !g.enter() {
			b.reply(m, nil, fault.New(fault.Unavailable, "%s is shutting down", subject))
			return
		}
		go func() {
			defer g.leave()
			b.handle(m, h)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("serve %s: %w", subject, err)
	}
	// Once Serve returns, a Call from anywhere must find this server.
	if err := b.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("serve %s: %w", subject, err)
	}
	return b.register(func() {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Warn("stop serving", "subject", subject, "err", err)
		}
		g.close()
	})
}

func (b *Bus) handle(m *nats.Msg, h Handler) {
	timeout := DefaultCallTimeout
	if v := m.Header.Get(hdrTimeout); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			timeout = d
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	body, err := safeHandle(ctx, h, m.Data)
	b.reply(m, body, err)
}

func safeHandle(ctx context.Context, h Handler, req []byte) (body []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return h(ctx, req)
}

func (b *Bus) reply(m *nats.Msg, body []byte, err error) {
	if m.Reply == "" {
		if err != nil {
			b.log.Warn("request without reply subject failed", "subject", m.Subject, "err", err)
		}
		return
	}
	out := nats.NewMsg(m.Reply)
	out.Data = body
	if err != nil {
		f := rpcFailure{Status: fault.Internal.Status(), Message: err.Error()}
		var fe *fault.Error
		if errors.As(err, &fe) {
			// The cause is for logs only, as over HTTP.
			f = rpcFailure{Status: fe.Kind.Status(), Type: fe.Type, Message: fe.Msg}
			if fe.Err != nil {
				b.log.Debug("rpc failed", "subject", m.Subject, "err", err)
			}
		}
		out.Header.Set(hdrStatus, "error")
		out.Data, _ = json.Marshal(f)
	}
	if err := b.nc.PublishMsg(out); err != nil {
		b.log.Warn("rpc reply", "subject", m.Subject, "err", err)
	}
}

// Call sends req as JSON to one server of subject and decodes the reply into
// resp (unless resp is nil). A handler's error comes back as *RPCError;
// no server at all is nats.ErrNoResponders; the ctx deadline (or
// DefaultCallTimeout) is honoured and passed on to the handler.
func (b *Bus) Call(ctx context.Context, subject string, req, resp any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("call %s: encode request: %w", subject, err)
	}
	d, _ := ctx.Deadline()
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(hdrTimeout, time.Until(d).String())
	r, err := b.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		return fmt.Errorf("call %s: %w", subject, err)
	}
	if r.Header.Get(hdrStatus) == "error" {
		var f rpcFailure
		if err := json.Unmarshal(r.Data, &f); err != nil {
			return fmt.Errorf("call %s: decode error reply: %w", subject, err)
		}
		return &RPCError{Subject: subject, Kind: fault.FromStatus(f.Status), Type: f.Type, Msg: f.Message}
	}
	if resp == nil || len(r.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Data, resp); err != nil {
		return fmt.Errorf("call %s: decode reply: %w", subject, err)
	}
	return nil
}
