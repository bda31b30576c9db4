package bulk

import (
	"bufio"
	"errors"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nimbus-cloud/nimbus/internal/objectstore/middleware/slo/segment"
	"github.com/nimbus-cloud/nimbus/internal/objectstore/swift"
)

// maxPathLength is the longest "/container/object" a bulk request can
// name (Swift's max_path_length).
const maxPathLength = swift.MaxObjectNameLength + swift.MaxContainerNameLength + 2

// Item is a name to delete, relative to the account: "/container/object"
// or "/container" (the leading slash is optional). ErrStatus, when not
// zero, is why it cannot be deleted, found before (an unreadable
// sub-manifest): 404 counts as not found, anything else as a failure
// shown with ErrMsg.
type Item struct {
	Name      string
	ErrStatus int
	ErrMsg    string
}

// Error fails a whole bulk request; it is shown as the answer's Response
// Status and Response Body.
type Error struct {
	Status int
	Body   string
}

func (e *Error) Error() string { return Status(e.Status) + ": " + e.Body }

// DeleteOptions configure Delete.
type DeleteOptions struct {
	Source         string // names the middleware in sub-requests ("BD", "SLO")
	Concurrency    int    // deletes in flight at once
	MaxFailures    int    // failures before the rest is given up; 0 = no limit
	YieldFrequency time.Duration
	Log            *slog.Logger
}

// Delete answers r by deleting items down the pipeline, objects first and
// containers after (a container must be empty to go), each as the caller,
// and writes Swift's bulk delete answer in format ("" when the Accept
// header allows none of Formats: the answer says 406). An error from
// items ends the work and is the answer's status.
func Delete(w http.ResponseWriter, r *http.Request, next http.Handler, format string, items iter.Seq2[Item, error], o DeleteOptions) {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultDeleteConcurrency
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	p := StartProgress(w, format, http.StatusOK, o.YieldFrequency)
	d := &deleter{next: next, r: r, o: o}
	fields, failures := d.run(format, items)
	p.Finish(Body(format, fields, failures, "delete"))
}

type deleter struct {
	next http.Handler
	r    *http.Request
	o    DeleteOptions

	mu         sync.Mutex
	deleted    int
	notFound   int
	failures   []Failure
	badGateway bool
}

func (d *deleter) run(format string, items iter.Seq2[Item, error]) ([]Field, []Failure) {
	status, body := http.StatusOK, ""
	err := d.deleteAll(format, items)
	var he *Error
	switch {
	case errors.As(err, &he):
		status, body = he.Status, he.Body
	case err != nil:
		d.o.Log.Error("bulk delete", "path", d.r.URL.Path, "err", err)
		status = http.StatusInternalServerError
	case len(d.failures) > 0:
		status = http.StatusBadRequest
		if d.badGateway {
			status = http.StatusBadGateway
		}
	case d.deleted == 0 && d.notFound == 0:
		status, body = http.StatusBadRequest, "Invalid bulk delete."
	}
	return []Field{
		{"Response Status", Status(status)},
		{"Response Body", body},
		{"Number Deleted", d.deleted},
		{"Number Not Found", d.notFound},
	}, d.failures
}

func (d *deleter) deleteAll(format string, items iter.Seq2[Item, error]) error {
	if format == "" {
		return &Error{Status: http.StatusNotAcceptable}
	}
	version, account, ok := accountOf(d.r.URL.Path)
	if !ok {
		return &Error{Status: http.StatusNotFound}
	}
	base := "/" + version + "/" + account + "/"
	var containers []Item
	sem := make(chan struct{}, d.o.Concurrency)
	var wg sync.WaitGroup
	launch := func(it Item) bool {
		if d.tooManyFailures() {
			return false
		}
		if !d.precheck(it, base) {
			return true
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d.deleteOne(it, base)
		}()
		return true
	}
	var itemsErr error
	stopped := false
	for it, err := range items {
		if err != nil {
			itemsErr = err
			break
		}
		name := strings.Trim(it.Name, "/")
		if name == "" {
			continue
		}
		if !strings.Contains(name, "/") {
			containers = append(containers, it)
			continue
		}
		if !launch(it) {
			stopped = true
			break
		}
	}
	wg.Wait()
	if itemsErr != nil {
		return itemsErr
	}
	if !stopped {
		for _, it := range containers {
			if !launch(it) {
				break
			}
		}
		wg.Wait()
	}
	if d.tooManyFailures() {
		return &Error{Status: http.StatusBadRequest, Body: "Max delete failures exceeded"}
	}
	return nil
}

func (d *deleter) tooManyFailures() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.o.MaxFailures > 0 && len(d.failures) >= d.o.MaxFailures
}

// precheck counts an item that needs no request: one that failed before,
// or whose path is not valid UTF-8.
func (d *deleter) precheck(it Item, base string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case it.ErrStatus == http.StatusNotFound:
		d.notFound++
	case it.ErrStatus != 0:
		d.failures = append(d.failures, Failure{Quote(it.Name), it.ErrMsg})
	case !utf8.ValidString(it.Name) || strings.IndexByte(it.Name, 0) >= 0:
		d.failures = append(d.failures, Failure{Quote(it.Name), Status(http.StatusPreconditionFailed)})
	default:
		return true
	}
	return false
}

func (d *deleter) deleteOne(it Item, base string) {
	path := base + strings.TrimLeft(it.Name, "/")
	sub := segment.NewRequest(d.r, d.o.Source, http.MethodDelete, path, "", nil)
	copyAuth(sub.Header, d.r.Header)
	res := segment.Call(d.next, sub, 0)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case res.Status/100 == 2:
		d.deleted++
	case res.Status == http.StatusNotFound:
		d.notFound++
	default:
		if res.Status/100 == 5 {
			d.badGateway = true
		}
		d.failures = append(d.failures, Failure{Quote(it.Name), Status(res.Status)})
	}
}

// bulkDelete answers ?bulk-delete: the body lists URL-encoded names, one
// a line.
func (m *middleware) bulkDelete(w http.ResponseWriter, r *http.Request, format string) {
	// The list may still be arriving when the first heartbeat goes out.
	// It is read only by the items iterator, in this goroutine (Delete
	// ranges over it itself), and closed before this returns.
	defer fullDuplex(w, r)()
	var items iter.Seq2[Item, error] = func(yield func(Item, error) bool) {
		ct := r.Header.Get("Content-Type")
		if ct != "" && !strings.HasPrefix(ct, "text/plain") {
			yield(Item{}, &Error{Status: http.StatusNotAcceptable})
			return
		}
		if !hasLength(r) {
			yield(Item{}, &Error{Status: http.StatusLengthRequired})
			return
		}
		list, err := parseDeletes(r.Body, m.o.MaxDeletesPerRequest)
		if err != nil {
			yield(Item{}, err)
			return
		}
		for _, it := range list {
			if !yield(it, nil) {
				return
			}
		}
	}
	Delete(w, r, m.next, format, items, DeleteOptions{
		Source: "BD", Concurrency: m.o.DeleteConcurrency, MaxFailures: m.o.MaxFailedDeletes,
		YieldFrequency: m.o.YieldFrequency, Log: m.o.Log,
	})
}

// parseDeletes reads a bulk delete body: one URL-encoded name a line,
// surrounding whitespace ignored, at most max names (blank lines count,
// as in Swift). A line longer than twice the longest path is refused.
func parseDeletes(body io.Reader, max int) ([]Item, error) {
	br := bufio.NewReaderSize(body, 4096)
	var items []Item
	for {
		line, err := readLine(br, 2*maxPathLength)
		if err != nil && err != io.EOF {
			return nil, err
		}
		name := Unquote(strings.TrimSpace(line))
		last := err == io.EOF
		if !last || name != "" {
			items = append(items, Item{Name: name})
		}
		if len(items) > max {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Body: "Maximum Bulk Deletes: " + strconv.Itoa(max) + " per request"}
		}
		if last {
			return items, nil
		}
	}
}

// readLine reads up to "\n" (dropped); io.EOF with the last, unterminated
// line. A line over limit bytes is a 400, as Swift's "Invalid File Name".
func readLine(br *bufio.Reader, limit int) (string, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit+1 {
			return "", &Error{Status: http.StatusBadRequest, Body: "Invalid File Name"}
		}
		switch err {
		case nil:
			return string(line[:len(line)-1]), nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			return string(line), io.EOF
		default:
			return "", &Error{Status: 499, Body: "read request body: " + err.Error()}
		}
	}
}
