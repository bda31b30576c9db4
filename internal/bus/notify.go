package bus

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Notification is an event for whoever listens, in the shape of an
// oslo.messaging notification so that OpenStack tooling can read it.
type Notification struct {
	EventType   string    // e.g. "instance.create.end"
	PublisherID string    // e.g. "compute.host1"; "" is the service name
	Priority    string    // "INFO", "WARN", "ERROR", ...; "" is "INFO"
	Timestamp   time.Time // "" is now
	Payload     any       // received as json.RawMessage; see DecodePayload
	MessageID   string    // "" is a fresh UUID
}

// DecodePayload decodes the payload of a received notification into v.
func (n Notification) DecodePayload(v any) error {
	raw, ok := n.Payload.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(n.Payload); err != nil {
			return err
		}
	}
	return json.Unmarshal(raw, v)
}

// The wire format is oslo.messaging's version 2 envelope: a JSON string
// holding the message, with the timestamp in Python's str(datetime) form.
type (
	envelope struct {
		Version string `json:"oslo.version"`
		Message string `json:"oslo.message"`
	}
	wireNotification struct {
		MessageID   string          `json:"message_id"`
		PublisherID string          `json:"publisher_id"`
		EventType   string          `json:"event_type"`
		Priority    string          `json:"priority"`
		Payload     json.RawMessage `json:"payload"`
		Timestamp   string          `json:"timestamp"`
	}
)

const (
	envelopeVersion = "2.0"
	osloTime        = "2006-01-02 15:04:05.000000"
)

// Notify publishes n on "notifications.<service>.<event_type>".
func (b *Bus) Notify(service string, n Notification) error {
	if !validTokens(service) || !validTokens(n.EventType) {
		return fmt.Errorf("notify: bad service %q or event type %q", service, n.EventType)
	}
	if n.PublisherID == "" {
		n.PublisherID = service
	}
	if n.Priority == "" {
		n.Priority = "INFO"
	}
	if n.Timestamp.IsZero() {
		n.Timestamp = time.Now()
	}
	if n.MessageID == "" {
		n.MessageID = newUUID()
	}
	payload, err := json.Marshal(n.Payload)
	if err != nil {
		return fmt.Errorf("notify %s: encode payload: %w", n.EventType, err)
	}
	msg, err := json.Marshal(wireNotification{
		MessageID:   n.MessageID,
		PublisherID: n.PublisherID,
		EventType:   n.EventType,
		Priority:    n.Priority,
		Payload:     payload,
		Timestamp:   n.Timestamp.UTC().Format(osloTime),
	})
	if err != nil {
		return fmt.Errorf("notify %s: %w", n.EventType, err)
	}
	data, err := json.Marshal(envelope{Version: envelopeVersion, Message: string(msg)})
	if err != nil {
		return fmt.Errorf("notify %s: %w", n.EventType, err)
	}
	subject := "notifications." + service + "." + n.EventType
	if err := b.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("notify %s: %w", subject, err)
	}
	return nil
}

// Subscribe calls fn, one notification at a time, for every notification on
// subject, which may hold wildcards ("notifications.compute.>"). Every
// subscriber sees every notification. stop waits for a call in progress.
func (b *Bus) Subscribe(subject string, fn func(Notification)) (stop func(), err error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	var g gate
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) {
		if !g.enter() {
			return
		}
		defer g.leave()
		n, err := decodeNotification(m.Data)
		if err != nil {
			b.log.Warn("drop malformed notification", "subject", m.Subject, "err", err)
			return
		}
		fn(n)
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	if err := b.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("subscribe %s: %w", subject, err)
	}
	return b.register(func() {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Warn("unsubscribe", "subject", subject, "err", err)
		}
		g.close()
	})
}

func decodeNotification(data []byte) (Notification, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return Notification{}, err
	}
	if env.Version != envelopeVersion {
		return Notification{}, fmt.Errorf("unsupported envelope version %q", env.Version)
	}
	var w wireNotification
	if err := json.Unmarshal([]byte(env.Message), &w); err != nil {
		return Notification{}, err
	}
	ts, err := time.Parse(osloTime, w.Timestamp)
	if err != nil {
		return Notification{}, fmt.Errorf("timestamp: %w", err)
	}
	return Notification{
		EventType:   w.EventType,
		PublisherID: w.PublisherID,
		Priority:    w.Priority,
		Timestamp:   ts,
		Payload:     w.Payload,
		MessageID:   w.MessageID,
	}, nil
}

// validTokens reports whether s is one or more literal subject tokens.
func validTokens(s string) bool {
	if s == "" {
		return false
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
	}
	return true
}

func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}
