package bus

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// One JetStream stream holds every queue: subject "work.<queue>", a durable
// consumer named after the queue. Work-queue retention drops a task once it
// is acknowledged.
const (
	workStream  = "WORK"
	workAckWait = 30 * time.Second // renewed while a handler runs
	workPoll    = 5 * time.Second  // how long one pull waits for a task
	retryFirst  = 200 * time.Millisecond
	retryMax    = 5 * time.Minute
)

var queueName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Enqueue adds body to queue and returns once the server has stored it.
func (b *Bus) Enqueue(ctx context.Context, queue string, body []byte) error {
	if !queueName.MatchString(queue) {
		return fmt.Errorf("enqueue: bad queue name %q", queue)
	}
	if err := b.ensureStream(ctx); err != nil {
		return err
	}
	if _, err := b.js.Publish(ctx, "work."+queue, body); err != nil {
		return fmt.Errorf("enqueue to %s: %w", queue, err)
	}
	return nil
}

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Permanent marks err as not worth retrying: Work drops the task instead of
// delivering it again.
func Permanent(err error) error { return permanentError{err} }

// Work calls fn for each task of queue, one at a time, until ctx is done or
// stop is called; call Work again for more tasks in parallel. Delivery is at
// least once: a task is acknowledged when fn returns nil, dropped when it
// returns a Permanent error, and otherwise delivered again after a growing
// delay. fn's context is cancelled when the worker stops.
func (b *Bus) Work(ctx context.Context, queue string, fn func(ctx context.Context, body []byte) error) (stop func(), err error) {
	if !queueName.MatchString(queue) {
		return nil, fmt.Errorf("work: bad queue name %q", queue)
	}
	if err := b.ensureStream(ctx); err != nil {
		return nil, err
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, workStream, jetstream.ConsumerConfig{
		Durable:       queue,
		FilterSubject: "work." + queue,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       workAckWait,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("work on %s: %w", queue, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.workLoop(wctx, queue, cons, fn)
	}()
	return b.register(func() {
		cancel()
		<-done
	})
}

// workLoop pulls one task at a time, so that no task waits in this process
// while another runs (and times out there, to be run twice).
func (b *Bus) workLoop(ctx context.Context, queue string, cons jetstream.Consumer, fn func(context.Context, []byte) error) {
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(workPoll))
		if err != nil {
			b.log.Warn("fetch work", "queue", queue, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		select {
		case <-ctx.Done():
			// A task may still arrive for this pull; hand it back at once
			// rather than leave it to the ack timeout.
			go func() {
				for m := range batch.Messages() {
					m.Nak()
				}
			}()
			return
		case m, ok := <-batch.Messages():
			if !ok {
				if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
					b.log.Warn("fetch work", "queue", queue, "err", err)
				}
				continue
			}
			b.runTask(ctx, queue, m, fn)
			for range batch.Messages() { // ends the batch; holds nothing more
			}
		}
	}
}

func (b *Bus) runTask(ctx context.Context, queue string, m jetstream.Msg, fn func(context.Context, []byte) error) {
	tctx, cancel := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(workAckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
				m.InProgress()
			}
		}
	}()
	err := safeWork(tctx, fn, m.Data())
	cancel()
	<-renewed

	var delivered uint64 = 1
	if md, merr := m.Metadata(); merr == nil {
		delivered = md.NumDelivered
	}
	var perm permanentError
	switch {
	case err == nil:
		err = m.Ack()
	case errors.As(err, &perm):
		b.log.Error("drop task", "queue", queue, "attempt", delivered, "err", err)
		err = m.TermWithReason(err.Error())
	case ctx.Err() != nil:
		err = m.Nak() // stopping: let another worker have it now
	default:
		delay := retryDelay(delivered)
		b.log.Warn("task failed, will retry", "queue", queue, "attempt", delivered, "retry_in", delay, "err", err)
		err = m.NakWithDelay(delay)
	}
	if err != nil {
		b.log.Warn("settle task", "queue", queue, "err", err)
	}
}

func safeWork(ctx context.Context, fn func(context.Context, []byte) error, body []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx, body)
}

// retryDelay doubles from retryFirst after each failed attempt, up to retryMax.
func retryDelay(attempt uint64) time.Duration {
	d := retryFirst
	for i := uint64(1); i < attempt && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// ensureStream finds or creates the WORK stream. An existing stream is used
// as it is, so a cluster's operators may create it first with replicas.
func (b *Bus) ensureStream(ctx context.Context) error {
	if b.isClosed() {
		return ErrClosed
	}
	b.streamMu.Lock()
	defer b.streamMu.Unlock()
	if b.stream {
		return nil
	}
	_, err := b.js.Stream(ctx, workStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = b.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:      workStream,
			Subjects:  []string{"work.>"},
			Retention: jetstream.WorkQueuePolicy,
			Storage:   b.storage,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another process was first
		}
	}
	if err != nil {
		return fmt.Errorf("work stream: %w", err)
	}
	b.stream = true
	return nil
}
